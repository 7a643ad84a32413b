"""Hook for the power trace of the demo (issue 5 wires the device to the emulated meter).

Contract: `capture(url, image, input_file, outdir)` runs while the emulated board still runs and the
demo's own console connection is closed (the UART takes one client at a time). It returns a
`PowerResult` whose `png` is drawn in the report, or None when power profiling of a live board is
not available yet. It uses only the public `cimsdk profile` command, in its own process, so the
demo's figures and a user's `cimsdk profile` run are the same measurement.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cimsdk import procs

#: The module issue 5 adds: it registers the console client as the profiler's inference driver.
DRIVER_MODULE = "cimsdk.power.device_driver"


@dataclass
class PowerResult:
    png: Path | None
    report: dict
    note: str = ""


def available() -> bool:
    """True once a device driver for `cimsdk profile --port` exists."""
    try:
        return importlib.util.find_spec(DRIVER_MODULE) is not None
    except (ImportError, ValueError):
        return False


def capture(url: str, image: Path, input_file: Path, outdir: Path, *, board: str, target: str,
            compare: Path | None = None, inferences: int = 5, timeout_s: float = 120.0) -> PowerResult | None:
    """Profile `inferences` marked inferences on the running board; None if not available yet."""
    if not available():
        return None
    out = outdir / "power"
    cmd = [sys.executable, "-m", "cimsdk.cli", "profile", "--port", url, "--meter", "emulated",
           "--meter-opt", f"board={board}", "--meter-opt", f"target={target}", "--image", str(image),
           "--input", str(input_file), "-n", str(inferences), "-o", str(out)]
    if compare is not None:
        cmd += ["--compare", str(compare)]
    try:
        res = procs.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return PowerResult(None, {}, f"cimsdk profile did not finish within {timeout_s:.0f} s")
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        return PowerResult(None, {}, f"cimsdk profile failed: {last}")
    report = {}
    if (out / "report.json").is_file():
        report = json.loads((out / "report.json").read_text())
    png = out / "trace.png"
    return PowerResult(png if png.is_file() else None, report)
