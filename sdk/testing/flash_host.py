"""The host build of the bootloader (simulated NOR flash) behind the `Transport` interface, so the
real flasher can drive it in tests, fuzzing and the benchmark without QEMU."""

from __future__ import annotations

import os
import select
import subprocess
from pathlib import Path

from cimsdk.transport import LinkError, Transport


class HostLoader(Transport):
    """`bl_host serve FLASH` as a byte pipe with Transport's methods (write/read/reconnect/...)."""

    url = "host-sim"

    def __init__(self, exe: str | Path, flash: str | Path, *, pubkey: bytes | None = None,
                 signed_only: bool = False, targets: str = "") -> None:  # no super().__init__: no port to open
        self.cmd = [str(exe), "serve", str(flash)]
        if pubkey is not None:
            self.cmd += ["--pubkey", pubkey.hex()]
        if signed_only:
            self.cmd.append("--signed-only")
        if targets:
            self.cmd += ["--targets", targets]
        self.baudrate = 115200
        self.open_timeout = 0.0
        self.bytes_in = self.bytes_out = 0
        self.proc: subprocess.Popen | None = None
        self.stderr = ""
        self.returncode: int | None = None
        self.open()

    def open(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def close(self) -> int | None:
        """Stop the simulated board (EOF on its input); returns its exit status (3 = write violation)."""
        if self.proc is None:
            return self.returncode
        p, self.proc = self.proc, None
        try:
            _out, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            _out, err = p.communicate()
        self.stderr = err.decode(errors="replace")
        self.returncode = p.returncode
        return p.returncode

    def kill(self) -> None:
        """A power cut: the process dies mid-command, flash keeps whatever was programmed."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def reconnect(self, timeout: float = 5.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.open()

    def write(self, data: bytes) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise LinkError("host bootloader exited")
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise LinkError(f"host bootloader pipe: {exc}") from exc
        self.bytes_out += len(data)

    def read(self, timeout: float) -> bytes:
        if self.proc is None:
            raise LinkError("host bootloader not running")
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            if self.proc.poll() is not None:
                raise LinkError(f"host bootloader exited with {self.proc.returncode}")
            return b""
        data = os.read(fd, 65536)
        if not data:
            raise LinkError("host bootloader closed its output")
        self.bytes_in += len(data)
        return data

    def drain_input(self) -> None:
        pass

    def set_baudrate(self, baudrate: int) -> None:
        self.baudrate = baudrate


def check_boot(exe: str | Path, flash: str | Path, *, pubkey: bytes | None = None,
               signed_only: bool = False) -> bool:
    """Run the boot decision on the flash file (as after a reset); True when an application boots."""
    cmd = [str(exe), "check", str(flash)]
    if pubkey is not None:
        cmd += ["--pubkey", pubkey.hex()]
    if signed_only:
        cmd.append("--signed-only")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    return "bootable=1" in out
