"""A sampled power trace (time, current, voltage, marker) and its CSV form.

Every meter backend produces this one type, so analysis and plotting never care where the
samples came from; the CSV is what `cimsdk profile --from` reads back.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cimconv.errors import UserError

CSV_COLUMNS = ("time_s", "current_a", "voltage_v", "power_w", "marker")


@dataclass
class Trace:
    """Samples of one capture: equal-length arrays, time in seconds from the capture start."""

    time_s: np.ndarray
    current_a: np.ndarray
    voltage_v: np.ndarray
    marker: np.ndarray
    meter: str = "unknown"
    sample_rate_hz: float = 0.0
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.time_s = np.asarray(self.time_s, dtype=np.float64)
        self.current_a = np.asarray(self.current_a, dtype=np.float64)
        self.voltage_v = np.asarray(self.voltage_v, dtype=np.float64)
        self.marker = np.asarray(self.marker, dtype=np.uint8)
        n = len(self.time_s)
        for name in ("current_a", "voltage_v", "marker"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"trace column {name} has {len(getattr(self, name))} samples, time has {n}")
        if not self.sample_rate_hz and n > 1:
            self.sample_rate_hz = float((n - 1) / (self.time_s[-1] - self.time_s[0]))

    def __len__(self) -> int:
        return len(self.time_s)

    @property
    def power_w(self) -> np.ndarray:
        return self.current_a * self.voltage_v

    @property
    def duration_s(self) -> float:
        """Covered time: n samples at rate fs span n/fs (each sample stands for one period)."""
        if len(self) == 0:
            return 0.0
        if self.sample_rate_hz:
            return len(self) / self.sample_rate_hz
        return float(self.time_s[-1] - self.time_s[0])

    @classmethod
    def from_uniform(
        cls,
        current_a: np.ndarray,
        voltage_v: np.ndarray | float,
        marker: np.ndarray | None,
        sample_rate_hz: float,
        meter: str,
        t0_s: float = 0.0,
    ) -> Trace:
        """Build a trace from evenly spaced samples (PPK2, emulated meter, Joulescope)."""
        current_a = np.asarray(current_a, dtype=np.float64)
        n = len(current_a)
        voltage = np.broadcast_to(np.asarray(voltage_v, dtype=np.float64), (n,)).copy()
        mark = np.zeros(n, np.uint8) if marker is None else np.asarray(marker, np.uint8)
        t = t0_s + np.arange(n, dtype=np.float64) / sample_rate_hz
        return cls(t, current_a, voltage, mark, meter=meter, sample_rate_hz=float(sample_rate_hz))

    def to_csv_text(self) -> str:
        """CSV with '#' header lines carrying meter and rate, so a re-analysis knows both."""
        buf = io.StringIO()
        buf.write(f"# meter={self.meter}\n# sample_rate_hz={self.sample_rate_hz:.9g}\n")
        for key, value in sorted(self.meta.items()):
            buf.write(f"# {key}={value}\n")
        buf.write(",".join(CSV_COLUMNS) + "\n")
        data = np.column_stack([self.time_s, self.current_a, self.voltage_v, self.power_w, self.marker])
        np.savetxt(buf, data, delimiter=",", fmt=["%.9f", "%.9e", "%.6f", "%.9e", "%d"])
        return buf.getvalue()

    def write_csv(self, path: str | os.PathLike) -> None:
        from cimconv.atomic import write_text

        write_text(path, self.to_csv_text())


def read_csv(path: str | os.PathLike) -> Trace:
    """Read a trace written by `Trace.write_csv` (or any CSV with the same named columns)."""
    from cimsdk.imagefile import read_file

    path = Path(path)
    hint = "pass a trace.csv written by `cimsdk profile`"
    try:
        text = read_file(path, "trace file", hint).decode()
    except UnicodeDecodeError:
        raise UserError(f"trace file {path} is not text; {hint}") from None
    meta: dict[str, str] = {}
    header: list[str] | None = None
    body_start = 0
    for lineno, line in enumerate(text.splitlines()):
        s = line.strip()
        if s.startswith("#"):
            key, _, value = s.lstrip("#").strip().partition("=")
            meta[key.strip()] = value.strip()
            continue
        if not s:
            continue
        header = [c.strip() for c in s.split(",")]
        body_start = lineno + 1
        break
    if header is None:
        raise UserError(f"trace file {path} is empty; expected a header line {','.join(CSV_COLUMNS)}")
    required = ("time_s", "current_a", "voltage_v", "marker")
    missing = [c for c in required if c not in header]
    if missing:
        raise UserError(f"trace file {path} lacks column(s) {', '.join(missing)}; header is {','.join(header)}")
    try:
        data = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=body_start, comments="#", ndmin=2)
    except ValueError as exc:
        raise UserError(f"trace file {path} has a malformed row ({exc}); expected numbers in every column") from exc
    if data.shape[0] == 0:
        raise UserError(f"trace file {path} has no samples")
    if data.shape[1] != len(header):
        raise UserError(f"trace file {path}: rows have {data.shape[1]} columns, header names {len(header)}")
    col = {name: data[:, i] for i, name in enumerate(header)}
    meter = meta.pop("meter", "file")
    try:
        rate = float(meta.pop("sample_rate_hz", "0") or 0)
    except ValueError:
        raise UserError(f"trace file {path}: sample_rate_hz is not a number") from None
    return Trace(
        col["time_s"],
        col["current_a"],
        col["voltage_v"],
        np.rint(col["marker"]).astype(np.uint8),
        meter=meter,
        sample_rate_hz=rate,
        meta=meta,
    )
