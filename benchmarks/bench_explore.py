"""Sweep throughput of `cimsdk explore` (points per minute) on this machine: the local process pool with 1 and
2 worker processes, and Ray with 2 workers (a throwaway one-node cluster of 2 CPUs on loopback). Same small
KWS sweep each way, no cache; the Ray cluster's start-up is timed apart from the sweep.

Per-point overhead = wall time x workers / points - the mean time a point spends inside its evaluation: what
each way costs beyond the work itself (process spawn and imports, task scheduling, object transfer). The
machine is shared: the load average is printed; compare the ways, run side by side.

    python benchmarks/bench_explore.py [--points 8] [--chips 2] [--samples 16] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MODELS  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=8)
    ap.add_argument("--chips", type=int, default=2)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--data", type=Path, help="labelled KWS folder (default: made with espeak-ng, 9 per word)")
    a = ap.parse_args()
    from cimsdk.explore import local_ray, sweep
    from cimsdk.explore.runners import LocalRunner, RayRunner
    from cimsdk.explore.space import parse_space

    model = MODELS / "kws_ref_model.tflite"
    work = Path(tempfile.mkdtemp(prefix="bench-explore-"))
    try:
        data = a.data
        if data is None:
            data = work / "kws"
            subprocess.run([sys.executable, "-m", "cimsdk.cli", "data", "kws-synth", "-o", str(data),
                            "--per-word", "9"], check=True, capture_output=True)
        levels = [round(0.5 + 0.25 * i, 2) for i in range(a.points)]
        (work / "space.toml").write_text(
            f'target = "nor-acim"\nchips = {a.chips}\nsamples = {a.samples}\n[params]\n"noise.level" = {levels}\n')
        space = parse_space(work / "space.toml")
        load0 = os.getloadavg()

        def timed(name: str, runner, workers: int) -> dict:
            t = time.perf_counter()
            res = sweep.run([model], [data], space, work / name, runner, use_cache=False, progress=False)
            wall = time.perf_counter() - t
            inside = sum(m["seconds"] for r in res["rows"] for m in r["models"]) / len(res["rows"])
            return {"way": name, "points": len(res["rows"]), "wall_s": wall, "ppm": 60 * len(res["rows"]) / wall,
                    "inside_s": inside, "overhead_s": wall * workers / len(res["rows"]) - inside}

        print(f"KWS on nor-acim, {len(levels)} points x {a.chips} chips x {a.samples} inputs, no cache; "
              f"load average before {load0[0]:.1f}", flush=True)
        print(f"{'way':<20} {'points/min':>10} {'wall s':>8} {'in-point s':>11} {'overhead s/point':>17}")

        def show(r: dict) -> dict:
            print(f"{r['way']:<20} {r['ppm']:>10.1f} {r['wall_s']:>8.1f} {r['inside_s']:>11.2f} "
                  f"{r['overhead_s']:>17.2f}", flush=True)
            return r

        rows = [show(timed("local, 1 process", LocalRunner(1), 1)), show(timed("local, 2 processes", LocalRunner(2), 2))]
        t = time.perf_counter()
        with local_ray.cluster(nodes=1, cpus=2) as address:
            start = time.perf_counter() - t
            runner = RayRunner(address)
            try:
                rows.append(show(timed("Ray, 2 workers", runner, 2)))
            finally:
                runner.close()
        print(f"load average after {os.getloadavg()[0]:.1f}")
        print(f"Ray cluster start-up (ray start, one node of 2 CPUs): {start:.1f} s, not in the figures above")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
