"""INA226 console stream: line format, register LSBs, and a simulated board on a pty."""

from __future__ import annotations

import os
import threading
import time
import tty

import pytest

from cimsdk.power.analysis import analyse
from cimsdk.power.meters import create_meter
from cimsdk.power.meters.ina226 import Ina226Meter, format_line, parse_line


def test_line_roundtrip_and_checksum() -> None:
    line = format_line(123456, -1234, 2640, 1)
    assert line.startswith(b"$INA,123456,-1234,2640,1*") and line.endswith(b"\r\n")
    assert parse_line(line) == (123456, -1234, 2640, 1)
    # A flipped digit breaks the checksum; console text is not a sample.
    assert parse_line(line.replace(b"2640", b"2641")) is None
    assert parse_line(b"I (123) app: hello") is None
    # Register bounds: the bus register has no sign bit.
    assert parse_line(format_line(1, 0, 40000, 0)) is None


def _board_stream(master: int, lines: list[bytes]) -> None:
    for i in range(0, len(lines), 50):
        os.write(master, b"".join(lines[i : i + 50]))
        time.sleep(0.002)


def test_simulated_board_over_pty() -> None:
    """1 kS/s samples, 10 mohm shunt, 3.3 V bus; five 20 ms inferences at 40 mA over 4 mA idle."""
    shunt_ohm = 0.01
    period_us = 1000
    lines: list[bytes] = []
    t0 = (1 << 32) - 150_000  # the firmware timer wraps during the capture
    n = 600
    for k in range(n):
        inside = any(50 + 100 * j <= k < 70 + 100 * j for j in range(5))
        amps = 0.040 if inside else 0.004
        shunt = round(amps * shunt_ohm / 2.5e-6)  # 160 or 16 LSB
        if k == 10:
            lines.append(b"I (42) app: console text between samples\r\n")
        if k == 20:
            lines.append(format_line(0, 5, 5, 0)[:-6] + b"*00\r\n")  # corrupt checksum
        lines.append(format_line(t0 + k * period_us, shunt, 2640, int(inside)))  # 2640 x 1.25 mV = 3.3 V
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        meter = create_meter(f"ina226:{os.ttyname(slave)}", {"shunt_ohm": str(shunt_ohm)})
        assert isinstance(meter, Ina226Meter)
        with meter:
            writer = threading.Thread(target=_board_stream, args=(master, lines), daemon=True)

            def during() -> None:
                writer.start()
                writer.join()

            trace = meter.capture(n_samples=n, during=during, timeout_s=20)
        assert meter.bad_lines == 1
    finally:
        os.close(master)
        os.close(slave)
    assert len(trace) == n
    assert trace.time_s[-1] == pytest.approx((n - 1) * 1e-3)  # unwrapped across 2^32 us
    r = analyse(trace)
    assert r["windows"] == 5
    assert r["voltage_v"] == pytest.approx(3.3)
    assert r["uj_per_inference"] == pytest.approx(0.040 * 3.3 * 0.020 * 1e6, rel=0.01)
    assert r["idle_mw"] == pytest.approx(0.004 * 3.3 * 1e3, rel=0.01)
    assert r["inference_ms"] == pytest.approx(20.0)
    assert r["sample_rate_hz"] == pytest.approx(1000, rel=1e-3)
