"""Align inference windows with the marker channel and compute the figures of a profile.

Two marker conventions (docs/power-profiling.md):

- ``level`` (default): the marker is high while an inference runs; each complete high run is
  one window (runs cut by the start or end of the capture are dropped).
- ``edges``: MLPerf Tiny EnergyRunner style: each falling edge is a timestamp and each
  interval between two successive falling edges is one window.

Energy is the sum of power x sample duration over a window, so the result does not depend
on the meter's sample rate, and non-uniform traces (INA226 over a console) work too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cimconv.errors import UserError
from cimsdk.power.trace import Trace

MARKER_MODES = ("level", "edges")
#: Samples this close to an inference window are neither window nor idle.
IDLE_GUARD_S = 1e-4


@dataclass
class Window:
    """One inference: sample index range [start, stop) and its figures."""

    start: int
    stop: int
    t_start_s: float
    t_end_s: float
    uj: float
    uc: float
    avg_mw: float
    peak_mw: float

    @property
    def ms(self) -> float:
        return (self.t_end_s - self.t_start_s) * 1e3


def sample_durations(trace: Trace) -> np.ndarray:
    """Seconds each sample stands for: 1/fs for uniform traces, time to the next sample otherwise."""
    n = len(trace)
    if n == 0:
        return np.zeros(0)
    t = trace.time_s
    if n > 1:
        dt = np.diff(t)
        nominal = 1.0 / trace.sample_rate_hz if trace.sample_rate_hz else float(np.median(dt))
        # Uniform to within 1 %: use the nominal period (exact for meters with a fixed clock).
        if np.all(np.abs(dt - nominal) <= 0.01 * nominal):
            return np.full(n, nominal)
        return np.append(dt, np.median(dt))
    return np.array([1.0 / trace.sample_rate_hz if trace.sample_rate_hz else 0.0])


def _dilate(mask: np.ndarray, k: int) -> np.ndarray:
    """Grow True runs by k samples on both sides."""
    if k <= 0 or not mask.any():
        return mask.copy()
    c = np.concatenate([[0], np.cumsum(mask.astype(np.int64))])
    n = len(mask)
    idx = np.arange(n)
    lo, hi = np.maximum(idx - k, 0), np.minimum(idx + k + 1, n)
    return (c[hi] - c[lo]) > 0


def find_windows(marker: np.ndarray, mode: str = "level") -> list[tuple[int, int]]:
    """Index ranges [start, stop) of complete inference windows in a 0/1 marker array."""
    m = (np.asarray(marker) != 0).astype(np.int8)
    if len(m) == 0:
        return []
    d = np.diff(m)
    rises = np.flatnonzero(d == 1) + 1
    falls = np.flatnonzero(d == -1) + 1
    if mode == "level":
        # Drop a run already high at the first sample (its start is unknown).
        if m[0] == 1 and len(falls):
            falls = falls[1:]
        pairs = []
        fi = 0
        for r in rises:
            while fi < len(falls) and falls[fi] <= r:
                fi += 1
            if fi == len(falls):
                break  # still high at the end: incomplete
            pairs.append((int(r), int(falls[fi])))
            fi += 1
        return pairs
    if mode == "edges":
        return [(int(a), int(b)) for a, b in zip(falls[:-1], falls[1:], strict=True)]
    raise UserError(f"marker mode {mode!r} is unknown; use one of {', '.join(MARKER_MODES)}")


def analyse(trace: Trace, *, rate_hz: float = 1.0, marker_mode: str = "level") -> dict:
    """All figures of a capture as a JSON-ready dict (the body of report.json)."""
    if len(trace) < 2:
        raise UserError(f"trace from meter {trace.meter} has {len(trace)} samples; capture longer")
    p_w = trace.power_w
    dt = sample_durations(trace)
    t_end = trace.time_s + dt
    pairs = find_windows(trace.marker, marker_mode)
    inside = np.zeros(len(trace), bool)
    windows: list[Window] = []
    for a, b in pairs:
        inside[a:b] = True
        e_j = float(np.dot(p_w[a:b], dt[a:b]))
        q_c = float(np.dot(trace.current_a[a:b], dt[a:b]))
        dur = float(t_end[b - 1] - trace.time_s[a])
        windows.append(
            Window(a, b, float(trace.time_s[a]), float(t_end[b - 1]), e_j * 1e6, q_c * 1e6,
                   e_j / dur * 1e3 if dur > 0 else 0.0, float(p_w[a:b].max() * 1e3))
        )
    total_s = float(dt.sum())
    energy_j = float(np.dot(p_w, dt))
    charge_c = float(np.dot(trace.current_a, dt))
    # Idle: outside every window and marker low (a run cut by the capture's end is not idle),
    # and clear of the edges by a guard: meters smooth range switches (PPK2 spike filter) and
    # boards settle after waking, neither of which is idle power.
    busy = inside | (trace.marker != 0)
    guard = max(3, int(round(IDLE_GUARD_S * trace.sample_rate_hz))) if trace.sample_rate_hz else 3
    idle = ~_dilate(busy, guard)
    if not idle.any():
        idle = ~busy
    idle_mw: float | None = None
    if idle.any():
        idle_mw = float(np.dot(p_w[idle], dt[idle]) / dt[idle].sum() * 1e3)

    report: dict = {
        "meter": trace.meter,
        "sample_rate_hz": float(trace.sample_rate_hz),
        "samples": len(trace),
        "duration_s": total_s,
        "marker_mode": marker_mode,
        "avg_mw": energy_j / total_s * 1e3,
        "peak_mw": float(p_w.max() * 1e3),
        "idle_mw": idle_mw,
        "voltage_v": float(np.dot(trace.voltage_v, dt) / total_s),
        "energy_uj": energy_j * 1e6,
        "charge_uc": charge_c * 1e6,
        "windows": len(windows),
        "uj_per_inference": None,
        "uj_per_inference_min": None,
        "uj_per_inference_max": None,
        "uj_per_inference_above_idle": None,
        "uc_per_inference": None,
        "inference_ms": None,
        "inference_ms_min": None,
        "inference_ms_max": None,
        "inference_avg_mw": None,
        "rate_hz": rate_hz,
        "avg_mw_at_rate": None,
        "rate_feasible": None,
        "window_list": [
            {k: v for k, v in asdict(w).items() if k not in ("start", "stop")} | {"ms": w.ms} for w in windows
        ],
    }
    if windows:
        uj = np.array([w.uj for w in windows])
        ms = np.array([w.ms for w in windows])
        med_uj = float(np.median(uj))
        med_ms = float(np.median(ms))
        report.update(
            uj_per_inference=med_uj,
            uj_per_inference_min=float(uj.min()),
            uj_per_inference_max=float(uj.max()),
            uc_per_inference=float(np.median([w.uc for w in windows])),
            inference_ms=med_ms,
            inference_ms_min=float(ms.min()),
            inference_ms_max=float(ms.max()),
            inference_avg_mw=med_uj / med_ms if med_ms > 0 else None,
        )
        if idle_mw is not None:
            # mW x ms = uJ: energy an inference costs on top of staying idle for as long.
            above = float(np.median(uj - idle_mw * ms))
            report["uj_per_inference_above_idle"] = above
            # Always-on duty cycle: idle all the time plus the extra energy of each inference.
            report["avg_mw_at_rate"] = idle_mw + rate_hz * above * 1e-3
            report["rate_feasible"] = bool(rate_hz * med_ms * 1e-3 <= 1.0)
    return report


def parse_rate(text: str) -> float:
    """Parse an inference rate such as '1/s', '0.5', '2 Hz', '10/min' into inferences per second."""
    s = text.strip().lower().replace(" ", "")
    scale = 1.0
    for suffix, factor in (("/s", 1.0), ("hz", 1.0), ("/min", 1 / 60), ("/h", 1 / 3600)):
        if s.endswith(suffix):
            s, scale = s[: -len(suffix)], factor
            break
    try:
        value = float(s) * scale
    except ValueError:
        raise UserError(f"--rate {text!r} is not a rate; write e.g. 1/s, 0.2/s, 10/min or 2Hz") from None
    if not value > 0:
        raise UserError(f"--rate {text!r} must be positive")
    return value
