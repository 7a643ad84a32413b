"""The emulated board: hello boots under real QEMU, talks over socket:// with pyserial, round-trips the
mailbox with the coprocessor process, and every way of stopping leaves no process or shm file behind."""

from __future__ import annotations

import mmap
import os
import re
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import serial

from cimsdk import procs, project_root
from cimsdk.build import build_firmware
from cimsdk.emulator import EmulatedBoard
from cimsdk.emulator import mailbox_map as mm
from cimsdk.emulator.coprocessor import Coprocessor

HELLO = project_root() / "firmware" / "examples" / "hello"


def _read_until(port: serial.Serial, token: bytes, timeout: float = 20.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while token not in out and time.monotonic() < deadline:
        out += port.read(max(1, port.in_waiting))
    assert token in out, f"no {token!r} in {out!r}"
    return out


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """True once pid has exited (a zombie waiting for init counts as exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def _shm_names() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def _expected_crc(round_: int) -> int:
    """The diagnostic pattern hello copies in round `round_` (see firmware/examples/hello/main.c)."""
    data = bytes((i * 7 + round_ * 13 + (i >> 8)) & 0xFF for i in range(1024))
    return zlib.crc32(data)


@pytest.fixture(scope="session")
def hello_mailbox(tmp_path_factory) -> Path:
    return build_firmware(tmp_path_factory.getbasetemp() / "emu-hello-mailbox", "qemu-virt-rv32", "mailbox",
                          app=HELLO, quiet=True)


# -- the coprocessor's command handling on a plain mapping (no QEMU) ---------------------------------
class TestCoprocessorCommands:
    BASE, SIZE = 0x80000000, 1 << 20

    def make(self) -> tuple[mmap.mmap, Coprocessor]:
        mem = mmap.mmap(-1, self.SIZE)
        cop = Coprocessor(mem, self.BASE, self.SIZE, self.BASE + self.SIZE - mm.WINDOW_SIZE, log=lambda m: None)
        cop.attach()
        return mem, cop

    def post(self, cop: Coprocessor, command: int, *args: int) -> tuple[int, int, int]:
        for i, a in enumerate(args):
            cop.set_reg(f"ARG{i}", a)
        cop.set_reg("COMMAND", command)
        seq = cop.reg("DOORBELL") + 1
        cop.set_reg("DOORBELL", seq)
        assert cop.poll() and not cop.poll()
        assert cop.reg("ACCEPTED") == seq and cop.reg("DONE") == seq
        return cop.reg("STATUS"), cop.reg("RESULT0"), cop.reg("ERROR_DETAIL")

    def test_attach_writes_magic(self):
        mem, cop = self.make()
        assert cop.reg("MAGIC") == 0x424D4943 and cop.reg("VERSION") == mm.VERSION

    def test_memcpy_copies_and_checksums(self):
        mem, cop = self.make()
        payload = bytes(range(256)) * 3
        mem[0x100 : 0x100 + len(payload)] = payload
        status, crc, _ = self.post(cop, mm.CMD["MEMCPY"], self.BASE + 0x100, self.BASE + 0x4000, len(payload))
        assert status == 0 and crc == zlib.crc32(payload)
        assert mem[0x4000 : 0x4000 + len(payload)] == payload

    def test_errors_are_status_codes(self):
        mem, cop = self.make()
        assert self.post(cop, 99)[0] == mm.ERR["ERR_UNKNOWN_COMMAND"]
        status, _, detail = self.post(cop, mm.CMD["MEMCPY"], 0x1000, self.BASE, 16)
        assert status == mm.ERR["ERR_BAD_ADDRESS"] and detail == 0x1000
        assert self.post(cop, mm.CMD["MEMCPY"], self.BASE, self.BASE + self.SIZE - 8, 16)[0] == mm.ERR["ERR_BAD_ADDRESS"]
        assert self.post(cop, mm.CMD["RUN_OP"], 0, self.BASE, self.BASE + 64)[0] == mm.ERR["ERR_NO_IMAGE"]
        assert self.post(cop, mm.CMD["LOAD_IMAGE"], self.BASE, 64)[0] in (mm.ERR["ERR_BAD_IMAGE"], mm.ERR["ERR_INTERNAL"])

    def test_counters_and_reset(self):
        mem, cop = self.make()
        self.post(cop, mm.CMD["NOP"])
        self.post(cop, mm.CMD["NOP"])
        assert cop.counter("commands") == 2
        self.post(cop, mm.CMD["RESET_COUNTERS"])
        assert cop.counter("commands") == 1  # the reset itself is counted after zeroing


# -- the real emulated board ------------------------------------------------------------------------
@pytest.mark.qemu
def test_hello_boots_and_round_trips_the_mailbox(hello_mailbox: Path):
    shm_before = _shm_names()
    with EmulatedBoard(firmware=hello_mailbox) as board:
        qemu_pid, cop_pid = board.qemu.pid, board.coproc.pid
        with serial.serial_for_url(board.url, timeout=1) as port:
            out = _read_until(port, b"ready").decode()
            assert "cimsdk hello: board=qemu-virt-rv32" in out and "backend=mailbox" in out
            m = re.search(r"mailbox memcpy: ok bytes=1024 crc=0x([0-9a-f]{8}) device_crc=0x([0-9a-f]{8})", out)
            assert m, out
            assert int(m.group(1), 16) == int(m.group(2), 16) == _expected_crc(0)
            port.write(b"m")
            line = _read_until(port, b"wait_instret=").decode() + port.readline().decode()
            assert f"crc=0x{_expected_crc(1):08x}" in line and "ok" in line
            # The marker word reaches the host through the shared RAM.
            assert board.mailbox()["MARKER"] == 0
            port.write(b"k")
            _read_until(port, b"marker=1")
            regs = board.mailbox()
            assert regs["MARKER"] == 1 and regs["MARKER_SEQ"] == 1
            assert regs["counter.commands"] == 2 and regs["DONE"] == 2
            port.write(b"q")
            _read_until(port, b"bye")
        assert board.wait(10) == 0  # board_exit(0) powered QEMU off
    assert _gone(qemu_pid) and _gone(cop_pid)
    assert _shm_names() <= shm_before


@pytest.mark.qemu
def test_counters_are_deterministic_with_icount(hello_mailbox: Path):
    """A fixed piece of guest work retires the same instruction count on every boot (-icount shift=0)."""
    seen = []
    for _ in range(2):
        with EmulatedBoard(firmware=hello_mailbox) as board, serial.serial_for_url(board.url, timeout=1) as port:
            out = _read_until(port, b"ready").decode()
            seen.append(re.search(r"work: instret=(\d+) result=(\d+)", out).groups())
    assert seen[0] == seen[1]
    assert 256 * 5 < int(seen[0][0]) < 256 * 40  # a 256-iteration loop: some instructions per iteration


@pytest.mark.qemu
def test_soft_backend_runs_without_coprocessor(tmp_path: Path):
    elf = build_firmware(tmp_path / "soft", "qemu-virt-rv32", "soft", app=HELLO, quiet=True)
    with EmulatedBoard(firmware=elf, backend="soft") as board:
        assert board.coproc is None
        with serial.serial_for_url(board.url, timeout=1) as port:
            out = _read_until(port, b"ready").decode()
        assert "backend=soft" in out and "mailbox" not in out.split("backend=soft", 1)[1]


@pytest.mark.qemu
@pytest.mark.parametrize("victim", ["qemu", "coprocessor"])
def test_killing_either_side_stops_the_other(hello_mailbox: Path, victim: str):
    board = EmulatedBoard(firmware=hello_mailbox, wait_for_client=False)
    board.start()
    try:
        qemu_pid, cop_pid = board.qemu.pid, board.coproc.pid
        os.kill(qemu_pid if victim == "qemu" else cop_pid, signal.SIGKILL)
        assert _gone(qemu_pid) and _gone(cop_pid)
        assert not board.alive and victim in (board.exit_reason or "")
    finally:
        board.close()


LAUNCHER = """
import sys, time
from cimsdk.emulator import EmulatedBoard
b = EmulatedBoard(firmware=sys.argv[1], wait_for_client=False)
b.start()
print(b.qemu.pid, b.coproc.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.qemu
def test_launcher_killed_leaves_nothing_behind(hello_mailbox: Path):
    shm_before = _shm_names()
    proc = procs.spawn([sys.executable, "-c", LAUNCHER, str(hello_mailbox)], stdout=subprocess.PIPE, text=True)
    qemu_pid, cop_pid = (int(x) for x in proc.stdout.readline().split())
    assert not _gone(qemu_pid, 0.5) and not _gone(cop_pid, 0.1)
    proc.kill()
    proc.wait()
    assert _gone(qemu_pid) and _gone(cop_pid)
    assert _shm_names() <= shm_before


@pytest.mark.qemu
def test_cli_ctrl_c_stops_everything(hello_mailbox: Path):
    proc = procs.spawn(["cimsdk", "emulate", "--firmware", str(hello_mailbox), "--no-wait"],
                            stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert "UART at socket://127.0.0.1:" in line, line
    url = line.split("UART at ", 1)[1].strip()
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    commands = sorted(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode() for pid in children)
    assert len(children) == 3, commands  # QEMU, the coprocessor and the janitor
    with serial.serial_for_url(url, timeout=1) as port:
        port.write(b"c")
        _read_until(port, b"counters:")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 130
    assert all(_gone(int(pid)) for pid in children)
