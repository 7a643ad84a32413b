"""Batched golden-model throughput on the KWS model, side by side with the TFLM Python interpreter and
LiteRT's default XNNPACK path (both one inference at a time, as they run), medians of alternating runs.
Rates are given per wall-clock second and per CPU second (process CPU time, all threads): on a shared,
loaded machine the CPU figure is the steadier one (the golden model uses every core, the peers one).

Issue 18 targets: >= 30x the TFLM interpreter and >= 0.5x LiteRT's XNNPACK path (the fastest non-exact
peer). The golden model's backends (cimsdk.mac): `fast` (BLAS where the sums are provably exact, the default)
and `tiles` (tile by tile, int64: the reference) with --tiles. The load average is printed: the machine may
be shared, compare the ratios.

    python benchmarks/bench_golden_throughput.py [N] [--runs 5] [--tiles]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import MODELS, side_by_side  # noqa: E402

from cimconv.pipeline import convert  # noqa: E402
from cimsdk.golden import Executor  # noqa: E402
from cimsdk.reference import TFLM  # noqa: E402

CPU: dict[str, list[float]] = {}


def timed(key: str, fn) -> float:
    """Wall seconds of fn(); its process CPU seconds (all threads) go to CPU[key]."""
    c, t = time.process_time(), time.perf_counter()
    fn()
    wall = time.perf_counter() - t
    CPU.setdefault(key, []).append(time.process_time() - c)
    return wall


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=1000, help="batch of the golden model")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tiles", action="store_true", help="also time the tile-by-tile reference backend")
    a = ap.parse_args()
    load0 = os.getloadavg()
    model = MODELS / "kws_ref_model.tflite"
    rng = np.random.default_rng(0)
    xs = rng.integers(-128, 128, size=(a.n, 49, 10, 1)).astype(np.int8)
    m = min(a.n, 200)  # the one-by-one peers on a slice (their rate does not depend on the count)
    fns, counts = {}, {}
    for target in ("sram-dcim", "nor-acim"):
        for backend in ("fast", "tiles") if a.tiles else ("fast",):
            image = convert(model, target).image_bytes
            exe = Executor(image) if backend == "fast" else Executor(image, backend=backend)
            exe.run(xs[:8])  # compile / warm up
            key = f"golden {target} {backend} (batch {a.n})"
            fns[key] = lambda exe=exe, key=key: timed(key, lambda: exe.run(xs))
            counts[key] = a.n
    tflm = TFLM(model)
    fns["TFLM interpreter (one by one)"] = lambda: timed("TFLM interpreter (one by one)", lambda: tflm.run(xs[:m]))
    counts["TFLM interpreter (one by one)"] = m
    xnn_key = "LiteRT XNNPACK (one by one, not exact)"
    try:
        from ai_edge_litert import interpreter as lite

        it = lite.Interpreter(model_path=str(model))
        it.allocate_tensors()
        i_in, i_out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]

        def xnn():
            for x in xs[:m]:
                it.set_tensor(i_in, x[None])
                it.invoke()
                it.get_tensor(i_out)

        xnn()
        fns[xnn_key] = lambda: timed(xnn_key, xnn)
        counts[xnn_key] = m
    except ImportError:
        pass
    med = side_by_side(a.runs, **fns)
    rates = {k: counts[k] / v for k, v in med.items()}
    cpu = {k: counts[k] / statistics.median(v) for k, v in CPU.items()}
    print(f"KWS inferences per second, medians of {a.runs} alternating runs (wall clock; per CPU second, all threads):")
    for k, v in rates.items():
        print(f"  {k:44s} {v:10.0f}/s  {cpu[k]:10.0f}/CPU-s")
    for what, r in (("wall", rates), ("CPU", cpu)):
        base = r["TFLM interpreter (one by one)"]
        worst = min(v for k, v in r.items() if k.startswith("golden") and " fast " in k)
        line = f"  {what:4s} ratio golden(fast, slower target)/TFLM = {worst / base:.1f}x (target >= 30x)"
        if xnn_key in r:
            line += f", /LiteRT-XNNPACK = {worst / r[xnn_key]:.2f}x (target >= 0.5x)"
        print(line)
    print(f"load average (1 min) before / after: {load0[0]:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
