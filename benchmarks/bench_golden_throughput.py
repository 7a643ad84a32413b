"""Batched golden-model throughput on the KWS model against the TFLM Python interpreter (one by one).

Target: >= 20x TFLM (at least 10x). Also prints the ratio to LiteRT's default XNNPACK path, the fastest
non-exact peer. Run: python benchmarks/bench_golden_throughput.py [N]
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
from _common import MODELS

from cimconv.pipeline import convert
from cimsdk.golden import Executor
from cimsdk.reference import TFLM


def rate(fn, n: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return n / statistics.median(times)


def main(n: int = 1000, repeats: int = 3) -> int:
    model = MODELS / "kws_ref_model.tflite"
    rng = np.random.default_rng(0)
    xs = rng.integers(-128, 128, size=(n, 49, 10, 1)).astype(np.int8)
    results = {}
    for target in ("sram-dcim", "nor-acim"):
        exe = Executor(convert(model, target).image_bytes)
        exe.run(xs[:8])
        results[f"golden {target} (batch {n})"] = rate(lambda exe=exe: exe.run(xs), n, repeats)
    tflm = TFLM(model)
    m = min(n, 300)
    results["TFLM interpreter (one by one)"] = rate(lambda: tflm.run(xs[:m]), m, repeats)
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

        results["LiteRT XNNPACK (one by one, not exact)"] = rate(xnn, m, repeats)
    except ImportError:
        pass
    base = results["TFLM interpreter (one by one)"]
    print(f"KWS inferences per second, median of {repeats} runs:")
    for k, v in results.items():
        print(f"  {k:42s} {v:10.0f}/s")
    worst = min(v for k, v in results.items() if k.startswith("golden"))
    print(f"  ratio golden/TFLM = {worst / base:.1f}x (target >= 20x, at least 10x)")
    if "LiteRT XNNPACK (one by one, not exact)" in results:
        print(f"  ratio golden/LiteRT-XNNPACK = {worst / results['LiteRT XNNPACK (one by one, not exact)']:.2f}x")
    return 0 if worst / base >= 10 else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
