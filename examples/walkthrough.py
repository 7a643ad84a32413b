"""Shared plumbing of the examples: run `cimsdk` commands as a user types them, and keep an emulated
board running in the background as a second terminal would."""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def cimsdk_cmd() -> list[str]:
    """`cimsdk` from PATH (pip install -e .), else the same CLI through this Python."""
    exe = shutil.which("cimsdk")
    return [exe] if exe else [sys.executable, "-m", "cimsdk.cli"]


def show(args: list[str]) -> None:
    print(f"\n$ cimsdk {' '.join(shlex.quote(str(a)) for a in args)}", flush=True)


def cimsdk(*args: object) -> None:
    """Run one cimsdk command, its output going straight to the terminal; stop on failure."""
    argv = [str(a) for a in args]
    show(argv)
    res = subprocess.run(cimsdk_cmd() + argv)
    if res.returncode != 0:
        sys.exit(f"example stopped: `cimsdk {argv[0]}` exited with status {res.returncode}")


class Emulator:
    """`cimsdk emulate` in the background (as in a second terminal); stopped with Ctrl-C's SIGINT."""

    def __init__(self, firmware: Path, backend: str, log: Path) -> None:
        from cimsdk.emulator.board import free_port

        self.port = free_port()
        self.url = f"socket://127.0.0.1:{self.port}"
        self.args = ["emulate", "--firmware", str(firmware), "--backend", backend, "--port", str(self.port),
                     "--no-wait", "--log", str(log)]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Emulator:
        show(self.args)
        print("  (in the background, as in a second terminal)")
        for _attempt in range(2):
            self._start()
            if self._answers():
                return self
            print("  the board's UART did not answer; restarting it once")
            self.__exit__()
        sys.exit("example stopped: the emulated board does not answer on its UART (see emulator.log)")

    def _answers(self) -> bool:
        """One PING through the console protocol: the board is up before the first real command."""
        from cimsdk.device import Device

        try:
            with Device(self.url, timeout=2.0, retries=2, open_timeout=5.0) as dev:
                dev.ping()
            return True
        except Exception:  # any failure here means: not usable, restart
            return False

    def _start(self) -> None:
        self.proc = subprocess.Popen(cimsdk_cmd() + self.args, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 60
        for line in self.proc.stderr:
            print(f"  {line.rstrip()}")
            if "UART at" in line:
                break
            if time.monotonic() > deadline:
                break
        if self.proc.poll() is not None:
            sys.exit("example stopped: cimsdk emulate did not start (see the lines above)")
        time.sleep(0.3)  # let the firmware set up its UART before the first command arrives

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # what Ctrl-C does: the board closes cleanly
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None
        print("(emulated board stopped)")
