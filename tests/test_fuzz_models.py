"""Fuzzing the converter with damaged models: the only outcomes are a converted model or a one-line UserError.

Models are the shared real ones, damaged by `fuzzing.mutate_model` (byte damage and structure-aware
flatbuffer field edits) with fixed seeds: a failure prints its seed, case number and mutation, and
`mutate_model(name, base, np.random.default_rng([seed, case]))` rebuilds it. Most cases run the pipeline
`cimsdk convert` uses in-process; a few go through the real CLI (exit status, stderr, output folder).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fuzzing import Tally, load_models, mutate_model, pick_model

from cimconv.pipeline import convert
from cimconv.target import load_target

SEED = 20240611
TARGETS = ("sram-dcim", "nor-acim")


def fuzz_in_process(models_dir: Path, tmp: Path, seed: int, n: int) -> Tally:
    models = load_models(models_dir)
    assert models, f"no models in {models_dir}"
    targets = [load_target(t) for t in TARGETS]
    tally = Tally("fuzz models")
    for case in range(n):
        rng = np.random.default_rng([seed, case])
        name, base = pick_model(models, rng)
        data, what = mutate_model(name, base, rng)
        path = tmp / f"case{case % 8}.tflite"
        path.write_bytes(data)
        target = targets[case % len(targets)]
        tally.run(f"seed {seed} case {case} ({name}, {target.name}: {what})", lambda p=path, t=target: convert(p, t),
                  timeout=60)
    return tally


def test_fuzz_models_in_process(models_dir: Path, tmp_path: Path) -> None:
    tally = fuzz_in_process(models_dir, tmp_path, SEED, 400)
    assert tally.ok > 0 and tally.rejected > 0, tally.line()  # the mutations reach both outcomes
    tally.check()


@pytest.mark.slow
def test_fuzz_models_in_process_10k(models_dir: Path, tmp_path: Path) -> None:
    tally = fuzz_in_process(models_dir, tmp_path, SEED + 1, 10_000)
    tally.check()


def test_fuzz_models_cli(models_dir: Path, tmp_path: Path) -> None:
    """The real `cimsdk convert`: exit 0 or 2, one stderr line, no traceback, no half-written folder, no hang."""
    models = load_models(models_dir)
    seed = SEED + 2
    bad = []
    counts = {0: 0, 2: 0}
    n = 20
    for case in range(n):
        rng = np.random.default_rng([seed, case])
        name, base = pick_model(models, rng)
        data, what = mutate_model(name, base, rng)
        work = tmp_path / f"c{case}"
        work.mkdir()
        (work / "m.tflite").write_bytes(data)
        label = f"seed {seed} case {case} ({name}: {what})"
        try:
            res = subprocess.run([sys.executable, "-m", "cimsdk.cli", "convert", "m.tflite", "-o", "out", "-q",
                                  "-t", TARGETS[case % 2]], cwd=work, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            bad.append(f"{label}: no result after 120 s")
            continue
        err = res.stderr.strip()
        leftovers = sorted(p.name for p in work.iterdir() if p.name.startswith(".out"))
        if res.returncode not in counts or "Traceback" in res.stderr or leftovers:
            bad.append(f"{label}: exit {res.returncode}, leftovers {leftovers}, stderr {err[-500:]!r}")
        elif res.returncode == 2 and (len(err.splitlines()) != 1 or not err.startswith("error: ")
                                      or (work / "out").exists()):
            bad.append(f"{label}: exit 2 with stderr {err[:500]!r}, out exists {(work / 'out').exists()}")
        elif res.returncode == 0 and not (work / "out" / "model.cimg").is_file():
            bad.append(f"{label}: exit 0 but no out/model.cimg")
        else:
            counts[res.returncode] += 1
    print(f"fuzz models CLI: {n} mutated, {counts[0]} converted, {counts[2]} rejected, {len(bad)} crashes")
    assert not bad, "\n".join(bad)
