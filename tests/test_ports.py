"""Port discovery: `cimsdk device list` finds running emulated boards, `--port auto` picks the one board
that answers and refuses (one line, exit 2) with none or two, `host:port` means `socket://host:port`.

Real QEMU boards running real firmware; a TCP listener that never answers stands in for a port that is
not a cimsdk board. The registry is private to each test (CIMSDK_RUNTIME_DIR), so boards other tests or
people run on this machine are not seen.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cimsdk.transport.ports import normalize, register_emulated

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None or shutil.which("riscv64-unknown-elf-gcc") is None,
                       reason="needs qemu-system-riscv32 and the riscv64-unknown-elf toolchain"),
]


def test_normalize_spellings() -> None:
    assert normalize("127.0.0.1:4321") == "socket://127.0.0.1:4321"
    assert normalize("localhost:80") == "socket://localhost:80"
    assert normalize("socket://127.0.0.1:4321") == "socket://127.0.0.1:4321"
    assert normalize("/dev/ttyUSB0") == "/dev/ttyUSB0"
    assert normalize("rfc2217://host:1") == "rfc2217://host:1"


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cimsdk.build import build_firmware

    return build_firmware(tmp_path_factory.mktemp("fw_ports"), board="qemu-virt-rv32", backend="soft", quiet=True)


@pytest.fixture()
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "runtime"
    monkeypatch.setenv("CIMSDK_RUNTIME_DIR", str(folder))
    monkeypatch.delenv("CIMSDK_PORT", raising=False)
    return folder


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cimsdk", *args], capture_output=True, text=True, timeout=180,
                          env={**os.environ, **(env or {})})


def _board(firmware: Path):
    from cimsdk.emulator import EmulatedBoard

    return EmulatedBoard(firmware=firmware, backend="soft", wait_for_client=False)


def test_list_and_auto_with_one_board(firmware: Path, runtime: Path) -> None:
    silent = socket.socket()  # listens, never answers: not a cimsdk board
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        with _board(firmware) as board:
            register_emulated(f"socket://127.0.0.1:{silent.getsockname()[1]}", "not-a-board", "none", os.getpid())
            res = _cli("device", "list", "--json")
            assert res.returncode == 0, res.stderr
            found = {p["url"]: p for p in json.loads(res.stdout)}
            assert found[board.url]["answers"] is True and found[board.url]["board"] == "qemu-virt-rv32"
            assert found[board.url]["kind"] == "emulated" and found[board.url]["role"] == "app"
            silent_url = f"socket://127.0.0.1:{silent.getsockname()[1]}"
            assert found[silent_url]["answers"] is False

            res = _cli("device", "info", "--port", "auto", "--json")  # the one that answers
            assert res.returncode == 0, res.stderr
            assert json.loads(res.stdout)["board"] == "qemu-virt-rv32"
            res = _cli("device", "info", "--json", env={"CIMSDK_PORT": "auto"})
            assert res.returncode == 0, res.stderr
            host_port = board.url.removeprefix("socket://")
            res = _cli("device", "info", "-p", host_port, "--json")  # host:port shorthand
            assert res.returncode == 0, res.stderr
        res = _cli("device", "list", "--json")
        assert board.url not in {p["url"] for p in json.loads(res.stdout)}  # closed boards leave the list
    finally:
        silent.close()


def test_auto_refuses_two_boards_and_none(firmware: Path, runtime: Path) -> None:
    with _board(firmware) as a, _board(firmware) as b:
        res = _cli("device", "info", "--port", "auto")
        assert res.returncode == 2, res.stdout + res.stderr
        assert res.stderr.startswith("error: --port auto: 2 boards answer") and "Traceback" not in res.stderr
        assert a.url in res.stderr and b.url in res.stderr
    res = _cli("device", "info", "--port", "auto")
    assert res.returncode == 2 and "no cimsdk board answers" in res.stderr, res.stderr
    assert not list(runtime.glob("boards/*.json"))


def test_a_port_that_is_not_a_cimsdk_board_is_one_line(tmp_path: Path, runtime: Path) -> None:
    """Something listens and talks, but not the cimsdk protocol: every port-taking command says so in one
    line (exit 2), and --debug adds the traceback."""
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def chatter() -> None:  # an AT-modem-like device: answers every read with text
        srv.settimeout(0.2)
        conns = []
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                c.settimeout(0.05)
                conns.append(c)
            except TimeoutError:
                pass
            for c in list(conns):
                try:
                    if c.recv(4096):
                        c.sendall(b"OK\r\nERROR\r\n")
                except TimeoutError:
                    pass
                except OSError:
                    conns.remove(c)
        for c in conns:
            c.close()

    t = threading.Thread(target=chatter, daemon=True)
    t.start()
    port = f"127.0.0.1:{srv.getsockname()[1]}"
    image = tmp_path / "x.bin"
    image.write_bytes(b"\x13" * 64)
    try:
        for args in (["device", "info", "-p", port], ["flash", "-p", port, "--timeout", "0.5", "--retries", "1",
                                                      str(image)]):
            res = _cli(*args)
            assert res.returncode == 2, (args, res.stdout, res.stderr)
            err = res.stderr.strip()
            assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
            assert port in err or "answer" in err, err
        res = _cli("--debug", "device", "info", "-p", port)
        assert res.returncode == 2 and "Traceback" in res.stderr
        res = _cli("--trace", "device", "info", "-p", port)  # the bytes both ways, in hex
        assert res.returncode == 2
        assert f"trace socket://{port} > " in res.stderr and f"trace socket://{port} < 4f" in res.stderr  # "OK"
    finally:
        stop.set()
        t.join(5)
        srv.close()
