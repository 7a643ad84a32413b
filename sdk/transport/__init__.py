"""Byte transport to a board: serial ports, ptys and `socket://` URLs through pyserial.

One class for every carrier so `flash`, `device`, `validate` and `profile` share it. Opening
errors become one-line `UserError`s that say what to do (port missing, permission denied,
nothing listening); I/O errors after opening raise `LinkError` so callers can reconnect.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import time

from cimconv.errors import UserError

DEFAULT_BAUD = 115200


log = logging.getLogger(__name__)

class LinkError(Exception):
    """The link broke after it was opened (cable pulled, emulator gone); a reconnect may help."""


class DeviceNotAnswering(UserError):
    """The port opened but no valid reply came back."""


def _describe(url: str) -> str:
    return f"'{url}'"


def _open_error(url: str, exc: Exception) -> UserError:
    """Map pyserial's open failures (which hide errno in text for socket://) to advice."""
    text = str(exc)
    code = getattr(exc, "errno", None)
    if code is None:
        m = re.search(r"\[Errno (\d+)\]", text)
        code = int(m.group(1)) if m else None
    where = _describe(url)
    if url.startswith("socket://"):
        if code == errno.ECONNREFUSED or "refused" in text.lower():
            return UserError(
                f"nothing is listening at {where}; start the emulated board (cimsdk emulate) or check the port number"
            )
        return UserError(f"cannot connect to {where}: {text}; check host and port")
    if code == errno.ENOENT or "No such file" in text:
        return UserError(
            f"serial port {where} does not exist; plug the board in and check the name (ls /dev/ttyUSB* /dev/ttyACM*)"
        )
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return UserError(
            f"permission denied opening {where}; add your user to the 'dialout' group (sudo usermod -aG dialout $USER) and log in again"
        )
    if code == errno.EBUSY or "busy" in text.lower():
        return UserError(f"serial port {where} is busy; close other programs using it (screen, minicom, pio monitor)")
    return UserError(f"cannot open {where}: {text}")


def _trace(url: str, direction: str, data: bytes) -> None:
    import sys

    for i in range(0, len(data), 32):
        sys.stderr.write(f"trace {url} {direction} {data[i:i + 32].hex(' ')}\n")


class Transport:
    """A pyserial port opened by URL or device path; `read()` returns what arrived within a timeout."""

    def __init__(self, url: str, *, baudrate: int = DEFAULT_BAUD, open_timeout: float = 0.0) -> None:
        """`open_timeout` keeps retrying the open (a board re-enumerating, an emulator starting)."""
        if not url:
            raise UserError("no port given; pass --port /dev/ttyUSB0 (or socket://127.0.0.1:PORT for the emulator)")
        from cimsdk.transport.ports import normalize

        self.url = normalize(url)  # `auto` and `host:port` mean the same for every command
        #: `cimsdk --trace` / CIMSDK_TRACE=1: every byte in and out, in hex, on stderr.
        self.trace = os.environ.get("CIMSDK_TRACE", "") not in ("", "0")
        self.baudrate = baudrate
        self.open_timeout = open_timeout
        self._port = None
        self.bytes_out = 0
        self.bytes_in = 0
        self.open()

    def open(self) -> None:
        import serial

        if "://" not in self.url and not os.path.exists(self.url) and self.open_timeout <= 0:
            raise _open_error(self.url, FileNotFoundError(errno.ENOENT, "No such file or directory"))
        deadline = time.monotonic() + self.open_timeout
        while True:
            try:
                # A short read timeout: callers loop with their own deadline.
                self._port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0.02,
                                                   write_timeout=10)
                log.info("opened %s at %d baud", self.url, self.baudrate)
                return
            except (serial.SerialException, OSError, ValueError) as exc:
                if time.monotonic() >= deadline:
                    raise _open_error(self.url, exc) from None
                time.sleep(0.1)

    def close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            finally:
                self._port = None

    def reconnect(self, timeout: float = 5.0) -> None:
        """Close and reopen (socket:// peers that dropped us, USB ports that re-enumerated)."""
        self.close()
        saved = self.open_timeout
        self.open_timeout = timeout
        try:
            self.open()
        finally:
            self.open_timeout = saved

    def write(self, data: bytes) -> None:
        import serial

        if self._port is None:
            raise LinkError(f"{self.url} is closed")
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"write to {self.url} failed: {exc}") from exc
        self.bytes_out += len(data)
        if getattr(self, "trace", False):
            _trace(self.url, ">", data)

    def read(self, timeout: float) -> bytes:
        """Whatever bytes arrive within `timeout` seconds (returns early once some arrived)."""
        import serial

        if self._port is None:
            raise LinkError(f"{self.url} is closed")
        deadline = time.monotonic() + timeout
        while True:
            try:
                waiting = self._port.in_waiting
                data = self._port.read(max(1, waiting))
            except (serial.SerialException, OSError) as exc:
                raise LinkError(f"read from {self.url} failed: {exc}") from exc
            if data:
                self.bytes_in += len(data)
                if getattr(self, "trace", False):
                    _trace(self.url, "<", data)
                return data
            if time.monotonic() >= deadline:
                return b""

    def drain_input(self) -> None:
        """Discard stale bytes (a boot banner, replies to an earlier session)."""
        if self._port is not None:
            try:
                self._port.reset_input_buffer()
            except Exception:  # best effort only
                pass

    def set_baudrate(self, baudrate: int) -> None:
        self.baudrate = baudrate
        if self._port is not None:
            self._port.baudrate = baudrate

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
