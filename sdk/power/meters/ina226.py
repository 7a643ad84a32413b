"""INA226 sampled by the board's firmware over I2C and streamed as text lines on the console.

Line format (firmware -> host), one per conversion, interleaved with ordinary console text:

    $INA,<t_us>,<shunt>,<bus>,<mark>*<XX>\\r\\n

- ``t_us``: the firmware's microsecond timer when the conversion was read, unsigned 32-bit
  decimal (wraps at 2^32; the host unwraps it).
- ``shunt``: the INA226 Shunt Voltage register (0x01) as a signed 16-bit decimal; 2.5 uV/LSB.
- ``bus``: the Bus Voltage register (0x02) as an unsigned decimal (0..32767); 1.25 mV/LSB.
- ``mark``: 1 while an inference runs, else 0 (the marker the firmware would put on a GPIO).
- ``XX``: two uppercase hex digits, XOR of every character between ``$`` and ``*`` (NMEA style),
  so a line garbled by interleaved console output is dropped, not misread.

Current = shunt x 2.5 uV / R_shunt (meter option ``shunt_ohm``, default 0.1); power = current x bus
voltage. Reading the raw shunt register keeps the host independent of the chip's calibration
register. With conversion times of 140 us .. 8.244 ms (TI SBOS547), expect 100 S/s .. 7 kS/s.
"""

from __future__ import annotations

import queue

import numpy as np

from cimconv.errors import UserError
from cimsdk.power.meters import Meter, SampleBlock

SHUNT_LSB_V = 2.5e-6
BUS_LSB_V = 1.25e-3
PREFIX = b"$INA,"


def checksum(body: bytes) -> int:
    c = 0
    for b in body:
        c ^= b
    return c


def format_line(t_us: int, shunt: int, bus: int, mark: int) -> bytes:
    """One sample line as the firmware prints it (tests and the firmware reference)."""
    body = f"INA,{t_us & 0xFFFFFFFF},{int(shunt)},{int(bus)},{1 if mark else 0}".encode()
    return b"$" + body + f"*{checksum(body):02X}\r\n".encode()


def parse_line(line: bytes) -> tuple[int, int, int, int] | None:
    """(t_us, shunt_raw, bus_raw, mark) or None for console text or a corrupt line."""
    line = line.strip()
    start = line.find(PREFIX)
    if start < 0:
        return None
    line = line[start:]
    body, star, cs = line[1:].partition(b"*")
    if not star or len(cs) != 2:
        return None
    try:
        if int(cs, 16) != checksum(body):
            return None
        _, t_us, shunt, bus, mark = body.split(b",")
        t, s, b, m = int(t_us), int(shunt), int(bus), int(mark)
    except ValueError:
        return None
    if not (-32768 <= s <= 32767 and 0 <= b <= 32767 and m in (0, 1) and 0 <= t < 1 << 32):
        return None
    return t, s, b, m


class Ina226Meter(Meter):
    """Samples from INA226 lines read from a serial port, or fed by the console client."""

    name = "ina226"
    sample_rate_hz = 0.0  # timestamped by the firmware

    def __init__(self, port: str | None = None, *, shunt_ohm: float = 0.1, baud: int = 115200) -> None:
        if shunt_ohm <= 0:
            raise UserError(f"ina226 shunt_ohm={shunt_ohm} must be positive")
        self.port, self.shunt_ohm, self.baud = port, shunt_ohm, baud
        self.ser = None
        self._line = b""
        self._fed: queue.Queue[bytes] = queue.Queue()
        self._t_prev: int | None = None
        self._wraps = 0
        self.bad_lines = 0

    @classmethod
    def from_spec(cls, arg: str | None, **opts: str) -> Ina226Meter:
        unknown = set(opts) - {"shunt_ohm", "baud"}
        if unknown:
            raise UserError(f"ina226 does not know option(s) {', '.join(sorted(unknown))}; known: shunt_ohm, baud")
        try:
            return cls(arg, shunt_ohm=float(opts.get("shunt_ohm", 0.1)), baud=int(opts.get("baud", 115200)))
        except ValueError as exc:
            raise UserError(f"ina226 option is not a number ({exc})") from None

    def open(self) -> None:
        if self.port is None or self.ser is not None:
            return
        import serial

        try:
            self.ser = serial.Serial(self.port, self.baud, timeout=0.1)
        except (serial.SerialException, OSError) as exc:
            raise UserError(f"cannot open INA226 console port {self.port} ({exc})") from None

    def close(self) -> None:
        if self.ser is not None:
            self.ser.close()
            self.ser = None

    def feed(self, data: bytes) -> None:
        """Hand console bytes to the meter (a console client that owns the port calls this)."""
        self._fed.put(data)

    def start(self) -> None:
        self.open()
        self._line, self._t_prev, self._wraps = b"", None, 0
        if self.ser is not None:
            self.ser.reset_input_buffer()

    def stop(self) -> None:
        pass

    def _bytes(self, timeout: float) -> bytes:
        if self.ser is not None:
            self.ser.timeout = timeout
            return self.ser.read(max(1, self.ser.in_waiting))
        try:
            return self._fed.get(timeout=timeout)
        except queue.Empty:
            return b""

    def read(self, timeout: float) -> SampleBlock | None:
        data = self._bytes(timeout)
        if not data:
            return None
        *lines, self._line = (self._line + data).split(b"\n")
        rows = []
        for line in lines:
            if PREFIX not in line:
                continue  # ordinary console text
            parsed = parse_line(line)
            if parsed is None:
                self.bad_lines += 1
                continue
            rows.append(parsed)
        if not rows:
            return None
        arr = np.array(rows, dtype=np.int64)
        t_us = arr[:, 0].copy()
        for i in range(len(t_us)):  # unwrap the 32-bit microsecond timer
            if self._t_prev is not None and t_us[i] + self._wraps * (1 << 32) < self._t_prev:
                self._wraps += 1
            t_us[i] += self._wraps * (1 << 32)
            self._t_prev = int(t_us[i])
        current = arr[:, 1] * SHUNT_LSB_V / self.shunt_ohm
        voltage = arr[:, 2] * BUS_LSB_V
        return SampleBlock(current, voltage, arr[:, 3].astype(np.uint8), t_us * 1e-6)
