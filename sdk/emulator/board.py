"""`EmulatedBoard`: QEMU running the firmware, its UART on a TCP socket, and the CiM coprocessor process.

Guest RAM is a memfd shared by QEMU (memory-backend-file with share=on) and the coprocessor; its
name never appears in /dev/shm, so nothing can be left behind there. Both children are started by
`cimsdk.procs.spawn`, so they die with the launcher however it dies (a parent-death signal, their
own process groups, the janitor); a watcher thread stops one child when the other dies; `close()`
(also on Ctrl-C through the context manager) stops both. A flash file is locked (flock) for the
board's life, so two emulators never write one flash at once.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import mmap
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from cimconv.errors import UserError
from cimsdk import procs
from cimsdk.build.boards import load_board
from cimsdk.emulator import mailbox_map as mm

#: The coprocessor processes the launcher can start, each serving the mailbox in the shared guest RAM:
#: the golden model in Python, or the Verilated RTL of the FPGA coprocessor (docs/fpga.md).
COPROCESSORS = {"golden": "cimsdk.emulator.coprocessor", "rtl": "cimsdk.fpga.cosim"}


class FlashLock:
    """An exclusive lock on an emulated board's flash file, held until `release()` (or death)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise UserError(f"cannot open flash file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise UserError(
                f"flash file {self.path} is in use by another emulated board; stop it or give another --flash"
            ) from None

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = str(text).strip().upper()
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text, 0)


class _Pump(threading.Thread):
    """Drain a child's stderr into a ring of lines (and a log file); flag a line we wait for."""

    def __init__(self, stream: IO[bytes], name: str, log: IO[str] | None, trigger: str | None = None):
        super().__init__(daemon=True, name=f"pump-{name}")
        self.stream, self.name_, self.log = stream, name, log
        self.lines: collections.deque[str] = collections.deque(maxlen=200)
        self.trigger, self.triggered = trigger, threading.Event()

    def run(self) -> None:
        for raw in iter(self.stream.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if self.log is not None:
                with contextlib.suppress(ValueError):
                    self.log.write(f"[{self.name_}] {line}\n")
                    self.log.flush()
            if self.trigger and self.trigger in line:
                self.triggered.set()


class EmulatedBoard:
    """The qemu-virt-rv32 board with its CiM coprocessor, as a context manager.

    `url` is the UART as a pyserial URL (`serial.serial_for_url(board.url)`). With wait_for_client
    (the default) QEMU holds the guest until the first client connects, so no output is lost.
    """

    def __init__(
        self,
        board: str = "qemu-virt-rv32",
        firmware: str | os.PathLike | None = None,
        port: int | None = None,
        backend: str | None = None,
        icount: bool = True,
        wait_for_client: bool = True,
        flash: str | os.PathLike | None = None,
        erase: bool = False,
        flash_lock: FlashLock | None = None,
        coprocessor: str = "golden",
        rtl_target: str | None = None,
        log_file: str | os.PathLike | None = None,
        extra_qemu_args: list[str] | None = None,
        start_timeout: float = 30.0,
    ):
        self.board = load_board(board)
        if not self.board.runs_here or "qemu" not in self.board.data:
            raise UserError(
                f"board {board} is built, not run, here; emulate qemu-virt-rv32 (see docs/boards.md)"
            )
        self.backend = backend or self.board.default_backend
        if self.backend not in self.board.backends:
            raise UserError(f"board {board} has no '{self.backend}' backend; choose one of {self.board.backends}")
        self.firmware = Path(firmware) if firmware is not None else None
        if self.firmware is not None and not self.firmware.is_file():
            raise UserError(f"firmware {self.firmware} does not exist; build it with `cimsdk firmware build`")
        self.flash = Path(flash) if flash is not None else None
        if self.firmware is None and self.flash is None:
            raise UserError("nothing to run: give a firmware ELF (or a flash file to boot from)")
        self.port = port or free_port()
        self.icount, self.wait_for_client = icount, wait_for_client
        self.erase = erase
        self._flash_lock = flash_lock
        if coprocessor not in COPROCESSORS:
            raise UserError(f"coprocessor {coprocessor!r}: choose one of {', '.join(COPROCESSORS)}")
        self.coprocessor, self.rtl_target = coprocessor, rtl_target
        self.extra = list(extra_qemu_args or [])
        self.start_timeout = start_timeout
        q = self.board.data["qemu"]
        self.qemu_bin = q.get("binary", "qemu-system-riscv32")
        self.ram_size = _parse_size(q.get("memory", "64M"))
        self.ram_base = self.board.data["memory"]["ram"]["origin"]
        self.window_base = self.board.data["cim"]["mailbox_base"]
        self.qemu: subprocess.Popen | None = None
        self.coproc: subprocess.Popen | None = None
        self._memfd = -1
        self._mem: mmap.mmap | None = None
        self._pumps: list[_Pump] = []
        self._log: IO[str] | None = open(log_file, "a") if log_file else None  # noqa: SIM115
        self._closed = False
        self._stop = threading.Event()
        self.exit_reason: str | None = None
        self._registry: Path | None = None  # this board's entry in `cimsdk device list`'s registry

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> EmulatedBoard:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        from shutil import which

        if which(self.qemu_bin) is None:
            raise UserError(f"{self.qemu_bin} not found: apt-get install qemu-system-misc (scripts/setup.sh)")
        self._memfd = os.memfd_create(f"cimsdk-{self.board.name}-ram", 0)
        os.ftruncate(self._memfd, self.ram_size)
        self._mem = mmap.mmap(self._memfd, self.ram_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

        if self.backend == "mailbox":
            self._start_coprocessor()
        self._start_qemu()
        threading.Thread(target=self._watch, daemon=True, name="emulator-watch").start()
        from cimsdk.transport.ports import register_emulated

        self._registry = register_emulated(self.url, self.board.name, self.backend, self.qemu.pid)

    def _start_coprocessor(self) -> None:
        cmd = [
            sys.executable, "-m", COPROCESSORS[self.coprocessor], "--fd", str(self._memfd),
            "--ram-base", hex(self.ram_base), "--ram-size", hex(self.ram_size), "--window", hex(self.window_base),
        ]  # fmt: skip
        if self.coprocessor == "rtl":
            from cimsdk.fpga.cosim import DEFAULT_TARGET
            from cimsdk.fpga.instance import load_instance
            from cimsdk.fpga.verilate import build

            target = self.rtl_target or os.environ.get("CIMSDK_RTL_TARGET", DEFAULT_TARGET)
            build(load_instance(target))  # verilate (cached) before the start timeout runs
            cmd += ["--target", target]
        self.coproc = procs.spawn(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(self._memfd,),
        )  # fmt: skip
        assert self.coproc.stdout is not None and self.coproc.stderr is not None
        pump = _Pump(self.coproc.stderr, "coprocessor", self._log)
        pump.start()
        self._pumps.append(pump)
        deadline = time.monotonic() + self.start_timeout
        ready = threading.Event()

        def wait_ready() -> None:
            assert self.coproc is not None and self.coproc.stdout is not None
            if self.coproc.stdout.readline().strip() == b"ready":
                ready.set()

        threading.Thread(target=wait_ready, daemon=True).start()
        while not ready.wait(0.05):
            if self.coproc.poll() is not None or time.monotonic() > deadline:
                tail = "; ".join(list(pump.lines)[-3:])
                raise UserError(f"the CiM coprocessor process did not start: {tail or 'no output'}")

    def qemu_command(self) -> list[str]:
        q = self.board.data["qemu"]
        fd_path = f"/proc/self/fd/{self._memfd}"
        wait = "on" if self.wait_for_client else "off"
        cmd = [
            self.qemu_bin,
            "-machine", f"{q.get('machine', 'virt')},memory-backend=mem",
            "-object", f"memory-backend-file,id=mem,size={self.ram_size},mem-path={fd_path},share=on",
            "-m", f"{self.ram_size >> 20}M",
            "-bios", "none",
            "-display", "none", "-monitor", "none", "-nodefaults",
            "-serial", f"tcp:127.0.0.1:{self.port},server=on,wait={wait},nodelay=on",
        ]  # fmt: skip
        if self.icount:
            cmd += ["-icount", "shift=0"]
        if self.flash is not None:
            cmd += ["-drive", f"if=pflash,unit=0,format=raw,file={self.flash}"]
        if self.firmware is not None:
            cmd += ["-kernel", str(self.firmware)]
        return cmd + self.extra

    def _prepare_flash(self) -> None:
        assert self.flash is not None
        if self._flash_lock is None:
            self._flash_lock = FlashLock(self.flash)
        size = int(self.board.data["qemu"].get("flash0_size", 32 << 20))
        if self.erase or not self.flash.exists() or self.flash.stat().st_size == 0:  # 0: just made by the lock
            self.flash.parent.mkdir(parents=True, exist_ok=True)
            with open(self.flash, "wb") as f:  # erased NOR flash reads as 0xFF
                f.write(b"\xff" * size)
        elif self.flash.stat().st_size != size:
            raise UserError(f"flash file {self.flash} is {self.flash.stat().st_size} bytes, the board needs {size}; use --erase")

    def _start_qemu(self) -> None:
        if self.flash is not None:
            self._prepare_flash()
        self.qemu = procs.spawn(
            self.qemu_command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(self._memfd,),
        )  # fmt: skip
        assert self.qemu.stdout is not None
        pump = _Pump(self.qemu.stdout, "qemu", self._log, trigger="waiting for connection")
        pump.start()
        self._pumps.append(pump)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.qemu.poll() is not None:
                time.sleep(0.1)
                tail = "; ".join(list(pump.lines)[-3:])
                raise UserError(f"QEMU exited at start (status {self.qemu.returncode}): {tail or 'no output'}")
            if self.wait_for_client and pump.triggered.is_set():
                return
            if not self.wait_for_client and self._listening():
                return
            if time.monotonic() > deadline:
                raise UserError(f"QEMU did not open its UART on port {self.port} within {self.start_timeout:.0f} s")
            time.sleep(0.02)

    def _listening(self) -> bool:
        hexport = f":{self.port:04X}"
        with contextlib.suppress(OSError), open("/proc/net/tcp") as f:
            return any(hexport in ln.split()[1] and ln.split()[3] == "0A" for ln in f.readlines()[1:])
        return False

    def _watch(self) -> None:
        """One side died: stop the other, so nothing lingers."""
        while not self._stop.wait(0.1):
            for name, proc in (("qemu", self.qemu), ("coprocessor", self.coproc)):
                if proc is not None and proc.poll() is not None:
                    self.exit_reason = f"{name} exited with status {proc.returncode}"
                    self._terminate_children()
                    return

    @property
    def alive(self) -> bool:
        procs = [p for p in (self.qemu, self.coproc) if p is not None]
        return bool(procs) and all(p.poll() is None for p in procs)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for QEMU to exit (e.g. the firmware called board_exit); its status, or None on timeout."""
        if self.qemu is None:
            return None
        try:
            return self.qemu.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def _terminate_children(self) -> None:
        for p in (self.qemu, self.coproc):
            if p is not None:
                procs.stop(p, grace=5.0)

    def close(self) -> None:
        """Stop both processes and release the shared RAM; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        from cimsdk.transport.ports import unregister

        unregister(self._registry)
        if self.coproc is not None and self.coproc.stdin is not None:
            with contextlib.suppress(OSError):
                self.coproc.stdin.close()
        self._terminate_children()
        for p in (self.qemu, self.coproc):
            if p is not None and p.stdout is not None:
                with contextlib.suppress(OSError):
                    p.stdout.close()
        for pump in self._pumps:
            pump.join(timeout=1.0)
        if self._mem is not None:
            with contextlib.suppress(BufferError):
                self._mem.close()
            self._mem = None
        if self._memfd >= 0:
            os.close(self._memfd)
            self._memfd = -1
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._flash_lock is not None:
            self._flash_lock.release()
            self._flash_lock = None

    # -- host-side view of the mailbox ----------------------------------------------------------
    def mailbox(self) -> dict[str, int]:
        """Every mailbox register and counter as the guest sees them now (marker, counters, status)."""
        if self._mem is None:
            raise UserError("the emulated board is not running")
        win = self.window_base - self.ram_base
        regs = {
            name: struct.unpack_from("<I", self._mem, win + off)[0]
            for name, off, _, _ in mm.REGISTERS
            if name not in ("COUNTERS", "SCRATCH")
        }
        for i, name in enumerate(mm.COUNTER_NAMES):
            regs[f"counter.{name}"] = struct.unpack_from("<Q", self._mem, win + mm.REG["COUNTERS"] + 8 * i)[0]
        return regs

    def logs(self) -> list[str]:
        return [f"[{p.name_}] {ln}" for p in self._pumps for ln in p.lines]
