"""Analog CiM simulation, second part (issue 7): the folded fast mode (shared kernels + noisy finish) against
the step-by-step numpy fast mode,
`convert --calib` storing ADC ranges that `simulate` reads back, and the noise-aware mapping search."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from cimsdk.sim.analog import AnalogCimModel
from cimsdk.sim.noise import load_noise


@pytest.fixture(scope="module")
def kws(models_dir):
    from cimconv.pipeline import convert

    return convert(models_dir / "kws_ref_model.tflite", "nor-acim")


@pytest.fixture(scope="module")
def kws_dir(tmp_path_factory):
    """120 synthetic keyword clips (10 per label): >= 100 frames for calibration."""
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from cimsdk.data.synth import generate

    d = tmp_path_factory.mktemp("kws") / "set"
    generate(d, per_word=10, seed=5, workers=2, progress=False)
    return d


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cimsdk.cli", *args], capture_output=True, text=True)


def _rand(n, seed=0):
    return np.random.default_rng(seed).integers(-128, 128, (n, 49, 10, 1)).astype(np.int8)


def _run(kws, target, nz, x, trials, fused, seed=3, capture=False):
    from cimsdk.golden import Executor

    model = AnalogCimModel(kws.image, target, nz, trials=trials, seed=seed)
    model.fused = fused
    return Executor(kws.image, cim=model).run(np.concatenate([x] * trials), capture=capture)


def test_fused_equals_numpy_path_on_static_errors(kws):
    """Static errors only (programming, drift, stuck, IR drop; no read noise, no ADC): no random draw at run
    time, so op by op (same inputs) the compiled fused kernels and the numpy fast path give the same int8."""
    from cimsdk.golden import Executor

    nz = dataclasses.replace(load_noise("nor-flash").scaled(3.0), read_sigma_rel=0.0, read_sigma_abs=0.0)
    t = kws.target.with_overrides(adc_bits=0)
    T = 3
    x = np.concatenate([_rand(30, 1)] * T)
    _, ideal = Executor(kws.image).run(x, capture=True)
    exs = []
    for fused in (False, True):
        model = AnalogCimModel(kws.image, t, nz, trials=T, seed=3)
        model.fused = fused
        exs.append(Executor(kws.image, cim=model))
    changed = 0
    for i, op in enumerate(kws.image.ops):
        if not op.cim:
            continue
        xin = [ideal[op.inputs[0]]]
        a, b = (ex.run_op(i, xin).astype(int) for ex in exs)
        diff = np.abs(a - b)
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, op.opcode  # float sums in another order: rare ties
        changed += int(np.any(a != ideal[op.outputs[0]]))
    assert changed >= 5  # the static errors are large enough to move outputs


def test_fused_noise_has_the_numpy_paths_variance(kws):
    """With read noise and the ADC, each CiM layer's output error (against the ideal int8 values) has the
    same mean square in both paths (the fused one draws its noise differently)."""
    from cimsdk.golden import Executor

    nz = load_noise("nor-flash").scaled(3.0)
    x = _rand(40, 2)
    T = 4
    _, ideal = Executor(kws.image).run(np.concatenate([x] * T), capture=True)
    _, a = _run(kws, kws.target, nz, x, T, fused=False, capture=True)
    _, b = _run(kws, kws.target, nz, x, T, fused=True, capture=True)
    for op in kws.image.ops:
        if not op.cim:
            continue
        o = op.outputs[0]
        ea = np.mean((a[o].astype(float) - ideal[o]) ** 2)
        eb = np.mean((b[o].astype(float) - ideal[o]) ** 2)
        assert ea > 0 and 0.8 < eb / ea < 1.25, (op.opcode, ea, eb)


def test_convert_calib_stores_ranges_simulate_reads_them(kws, kws_dir, models_dir, tmp_path):
    from cimconv.image import parse_image
    from cimsdk.sim import calibrate as cal
    from cimsdk.sim import simulate as sim

    out = tmp_path / "conv"
    r = _cli("convert", str(models_dir / "kws_ref_model.tflite"), "-t", "nor-acim", "--calib", str(kws_dir),
             "-o", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    data = (out / "model.cimg").read_bytes()
    img = parse_image(data)
    c = img.meta["adc_calibration"]
    assert c["frames"] == 120 and c["target"] == "nor-acim"
    assert json.loads((out / "firmware.json").read_text())["image_sha256"] == img.sha256
    # the weights and program are the plain conversion's; only META differs
    assert all(np.array_equal(m.weights, m0.weights) for m, m0 in zip(img.matrices, kws.image.matrices, strict=True))
    ranges, _ = cal.ranges_from(c)
    ds = sim.load_data(img, kws_dir)
    want, _ = cal.adc_ranges(kws.image, kws.target, cal.layer_inputs(kws.image, ds.inputs))
    for mi, fs in want.items():
        np.testing.assert_allclose(ranges[mi], fs, atol=2e-3)
    so = tmp_path / "sim"
    r = _cli("simulate", str(out / "model.cimg"), "--data", str(kws_dir), "--trials", "2", "--no-sweeps",
             "-o", str(so))
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads((so / "simulate.json").read_text())["adc_calibration_source"].startswith("image")
    bad = _cli("convert", str(models_dir / "kws_ref_model.tflite"), "-t", "sram-dcim", "--calib", str(kws_dir),
               "-o", str(tmp_path / "d"))
    assert bad.returncode == 2 and "no ADC" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_mapping_search_cli_noise_aware_not_worse_than_naive(kws, kws_dir, tmp_path):
    """`--mapping-search`: reports what it chose and why, writes mapping.toml, and on the same chips and
    inputs the noise-aware mapping's top-1 is not below the naive mapping's."""
    from cimconv.target import load_target

    img = tmp_path / "kws.cimg"
    img.write_bytes(kws.image_bytes)
    import re
    from pathlib import Path

    base = load_noise("nor-flash")
    src = Path(base.path).read_text()
    for k in ("prog_sigma_rel", "prog_sigma_abs", "read_sigma_rel", "read_sigma_abs"):
        src, n = re.subn(rf"(?m)^{k}\s*=\s*\S+", f"{k} = {2 * getattr(base, k)}", src)
        assert n == 1
    noise = tmp_path / "flash2.toml"  # the nor-flash preset at twice its spread: naive loses accuracy
    noise.write_text(src)
    out = tmp_path / "sim"
    r = _cli("simulate", str(img), "--data", str(kws_dir), "--noise", str(noise), "--trials", "3", "--seed", "4",
             "--mapping-search", "--max-drop", "1.0", "--max-evals", "3", "--no-sweeps", "-o", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "noise-aware mapping" in r.stdout and "why:" in r.stdout
    res = json.loads((out / "simulate.json").read_text())
    assert set(res["configs"]) == {"naive", "calibrated", "noise-aware"}
    ms = res["mapping_search"]
    assert ms["why"] and any(c.get("role") == "target mapping" for c in ms["candidates"])
    assert res["configs"]["noise-aware"]["mapping"] == ms["target_overrides"]
    assert res["configs"]["noise-aware"]["accuracy_mean"] >= res["configs"]["naive"]["accuracy_mean"]
    t = load_target(str(out / "mapping.toml"))
    assert {k: getattr(t, k) for k in ms["target_overrides"]} == ms["target_overrides"]


def test_mapping_search_small_not_worse_than_naive(kws, kws_dir):
    """The search on a small budget: it simulates the target's mapping first, says why it chose, and its
    choice (calibrated) is not below the naive mapping's top-1 on the same chips and inputs."""
    from cimsdk.sim import calibrate as cal
    from cimsdk.sim import mapping_search as ms
    from cimsdk.sim import simulate as sim

    img, t = kws.image, kws.target
    ds = sim.load_data(img, kws_dir)
    nz = load_noise("nor-flash").scaled(2.0)
    r = ms.search(img, t, nz, ds, max_drop_pp=1.0, trials=1, samples=60, seed=2, max_evals=1, calib_rows=256)
    assert r["candidates"][0]["role"] == "target mapping" and len(r["candidates"]) <= 3
    assert r["why"] and r["chosen"]["mapping"] == r["target_overrides"]
    tc = t.with_overrides(**{k: v for k, v in r["target_overrides"].items() if k != "adc_bits"})
    cin = cal.layer_inputs(img, ds.inputs, max_rows=1024)
    naive = sim.run_trials(img, t, nz, ds.inputs, 3, 9, False)
    aware = sim.run_trials(img, tc, nz, ds.inputs, 3, 9, True, cin, cal.adc_ranges(img, tc, cin))
    assert (aware == ds.labels).mean() >= (naive == ds.labels).mean()
