"""trace.png: power over time with inference windows shaded and the figures in the title."""

from __future__ import annotations

import io
import os

import numpy as np

from cimsdk.power.trace import Trace

_MAX_POINTS = 4000


def _envelope(t: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max per column so a 100 kS/s capture plots quickly and no spike disappears."""
    cols = len(t) // n
    tt = t[: cols * n].reshape(cols, n)[:, 0]
    yy = y[: cols * n].reshape(cols, n)
    return tt, yy.min(axis=1), yy.max(axis=1)


def _fmt(value: float | None, unit: str, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}g} {unit}"


def render_png(trace: Trace, report: dict, title: str | None = None) -> bytes:
    """PNG bytes of the trace plot (written by the caller through cimconv.atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = trace.time_s - (trace.time_s[0] if len(trace) else 0.0)
    p_mw = trace.power_w * 1e3
    scale, unit = (1e3, "ms") if (t[-1] if len(t) else 0) < 2.0 else (1.0, "s")
    fig, ax = plt.subplots(figsize=(10, 4.2), dpi=110)
    if len(t) > 2 * _MAX_POINTS:
        n = len(t) // _MAX_POINTS
        tt, lo, hi = _envelope(t, p_mw, n)
        ax.fill_between(tt * scale, lo, hi, color="tab:blue", linewidth=0.6, step="post")
        ax.plot(tt * scale, (lo + hi) / 2, color="tab:blue", linewidth=0.5)
    else:
        ax.step(t * scale, p_mw, where="post", color="tab:blue", linewidth=0.8)
    t0 = trace.time_s[0] if len(trace) else 0.0
    for i, w in enumerate(report.get("window_list", [])):
        ax.axvspan((w["t_start_s"] - t0) * scale, (w["t_end_s"] - t0) * scale, color="tab:orange",
                   alpha=0.25, label="inference" if i == 0 else None)
    if report.get("idle_mw") is not None:
        ax.axhline(report["idle_mw"], color="tab:green", linestyle="--", linewidth=0.8, label="idle")
    ax.set_xlabel(f"time ({unit})")
    ax.set_ylabel("power (mW)")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)
    head = title or f"{trace.meter} @ {trace.sample_rate_hz:.4g} S/s"
    figures = (
        f"avg {_fmt(report.get('avg_mw'), 'mW')}, peak {_fmt(report.get('peak_mw'), 'mW')}, "
        f"idle {_fmt(report.get('idle_mw'), 'mW')} | {_fmt(report.get('uj_per_inference'), 'uJ')}/inference, "
        f"{_fmt(report.get('inference_ms'), 'ms')}, {report.get('windows', 0)} windows"
    )
    ax.set_title(f"{head}\n{figures}", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def plot_trace(trace: Trace, report: dict, path: str | os.PathLike, title: str | None = None) -> None:
    from cimconv.atomic import write_bytes

    write_bytes(path, render_png(trace, report, title))
