"""Simulate throughput with noise on (KWS inferences per second, 10 chips x 100 inputs, default nor-flash
preset, calibrated, two worker threads on the 2 cores) next to the TFLM interpreter's plain inference rate, run
side by side, medians (wall clock; the CPU seconds of the process too: on a loaded shared machine the steadier). The fast mode runs the shared kernels on folded weights (cimsdk.mac, noisy
backend); `--numpy` times the step-by-step numpy fast path instead. The load average is printed: the machine is shared, compare the ratio.

    python benchmarks/bench_simulate.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import MODELS, side_by_side  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--numpy", action="store_true", help="time the step-by-step numpy fast path, not the folded one")
    a = ap.parse_args()
    import os

    load0 = os.getloadavg()
    from cimconv.pipeline import convert
    from cimsdk.reference import TFLM
    from cimsdk.sim import calibrate as cal
    from cimsdk.sim import simulate as sim
    from cimsdk.sim.noise import load_noise

    model = MODELS / "kws_ref_model.tflite"
    c = convert(model, "nor-acim")
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (a.batch, 49, 10, 1)).astype(np.int8)
    nz = load_noise("nor-flash")
    cin = cal.layer_inputs(c.image, rng.integers(-128, 128, (128, 49, 10, 1)).astype(np.int8))
    ranges = cal.adc_ranges(c.image, c.target, cin)
    n_sim = a.trials * a.batch
    tflm = TFLM(model)
    xt = x[:50]

    from concurrent.futures import ThreadPoolExecutor

    from cimsdk.golden import Executor
    from cimsdk.mac.threads import single_threaded_blas

    t_setup = time.perf_counter()
    half = a.trials // 2
    blocks = [(0, half), (half, a.trials - half)]
    exs = [Executor(c.image, cim=sim.build_model(c.image, c.target, nz, n, 0, t0, True, cin, ranges))
           for t0, n in blocks]
    for ex, (_t0, n) in zip(exs, blocks, strict=True):
        ex.cim.fused = ex.cim.fused and not a.numpy
        ex.run(np.concatenate([x[:4]] * n))
    t_setup = time.perf_counter() - t_setup
    pool = ThreadPoolExecutor(2)

    cpu: list[float] = []

    def run_sim() -> float:
        """Steady state of `cimsdk simulate`: both workers, each its block of chips x the whole batch."""
        c, t = time.process_time(), time.perf_counter()
        with single_threaded_blas():  # as run_trials holds it over its worker threads
            list(pool.map(lambda i: exs[i].run(np.concatenate([x] * blocks[i][1])), range(2)))
        wall = time.perf_counter() - t
        cpu.append(time.process_time() - c)
        return wall

    def run_tflm() -> float:
        t = time.perf_counter()
        tflm.run(xt)
        return time.perf_counter() - t

    run_sim()  # warm-up (BLAS threads, page faults)
    med = side_by_side(a.runs, simulate=run_sim, tflm=run_tflm)
    sim_rate = n_sim / med["simulate"]
    tflm_rate = len(xt) / med["tflm"]
    path = "numpy fast path" if a.numpy else "folded weights, shared kernels"
    print(f"cimsdk simulate, noise on (nor-flash, calibrated, {path}, {a.trials} chips x {a.batch} inputs): "
          f"{sim_rate:,.0f} inferences/s (issue 18 target >= 20,000)")
    print(f"  per CPU second (both threads): {n_sim / statistics.median(cpu[1:]):,.0f} inferences/CPU-s")
    print(f"TFLM interpreter, plain int8 inference one by one:                    {tflm_rate:,.0f} inferences/s")
    print(f"one-off set-up (program {a.trials} chips, calibrate, rounding statistics): {t_setup:.1f} s")
    print(f"ratio simulate / TFLM: {sim_rate / tflm_rate:.2f}x  (medians of {a.runs} runs, side by side)")
    print(f"load average (1 min) before / after: {load0[0]:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
