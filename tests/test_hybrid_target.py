"""The hybrid digital/analog target (issue 19): ideal it is bit-exact; noisy, only the analog bits carry error
(none with every bit digital, less the more bits are digital); `simulate` shows accuracy and energy against
the split, plotted. Energy figures are checked against the published numbers the target file cites."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from paths import MODELS

from cimconv.pipeline import convert
from cimconv.target import load_target
from cimsdk.golden import Executor
from cimsdk.reference import TFLM
from cimsdk.sim import hybrid
from cimsdk.sim.analog import AnalogCimModel
from cimsdk.sim.noise import default_preset, load_noise

KWS = MODELS / "kws_ref_model.tflite"


@pytest.fixture(scope="module")
def kws():
    return convert(KWS, "hybrid-cim")


def _rand(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (n, 49, 10, 1)).astype(np.int8)


def test_ideal_is_bit_exact(kws):
    x = _rand(30, 2)
    want = TFLM(KWS).run(x)
    np.testing.assert_array_equal(Executor(kws.image_bytes).run(x), want)
    ideal = AnalogCimModel(kws.image, kws.target, load_noise("ideal"), trials=2)
    np.testing.assert_array_equal(Executor(kws.image, cim=ideal).run(np.concatenate([x, x])), np.concatenate([want, want]))


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_only_analog_bits_carry_error(kws, mode):
    """Accumulator error of one layer under the ReRAM preset, against the exact integer products."""
    t = kws.target
    assert default_preset(t) == "reram" and hybrid.splits(t) == [0, 2, 4, 6, 8]
    nz = load_noise("reram")
    mi = 1
    w = kws.image.matrices[mi].weights.astype(np.float64)
    xs = np.random.default_rng(1).integers(-128, 128, (1, 48, w.shape[1])).astype(np.int8)
    y0 = xs[0].astype(np.float64) @ w.T
    errs = []
    for bits in hybrid.splits(t):
        model = AnalogCimModel(kws.image, t.with_overrides(digital_bits=bits), nz, trials=2, seed=3, mode=mode)
        y = model.accumulate(mi, np.broadcast_to(xs, (2, *xs.shape[1:])), False).astype(np.float64)
        errs.append(float(np.mean((y - y0[None]) ** 2)))
    assert errs[-1] == 0.0  # every bit digital: exact, whatever the analog noise
    assert all(a > 4 * b for a, b in zip(errs[:-2], errs[1:-1], strict=True)), errs  # each 2 bits fewer analog


def test_energy_against_split_follows_the_cited_figures(kws):
    t = load_target("hybrid-cim")
    analog_pj, digital_bit_pj = 2 / 21.6, 2 / 15 / 8  # JSSC 2023 ReRAM CiM macro; Axelera Metis (REFERENCES.md)
    assert t.energy["pj_per_analog_mac"] == pytest.approx(analog_pj, rel=2e-3)
    assert t.energy["pj_per_digital_bit_mac"] == pytest.approx(digital_bit_pj, rel=2e-3)
    assert t.energy["pj_per_mac"] == pytest.approx(analog_pj * 4 / 8 + digital_bit_pj * 4, rel=2e-3)
    macs = kws.report["totals"]["cim_macs"]
    for bits in hybrid.splits(t):
        want = macs * (analog_pj * (8 - bits) / 8 + digital_bit_pj * bits) / 1e6
        assert hybrid.macro_energy_uj(kws.image, t.with_overrides(digital_bits=bits)) == pytest.approx(want, rel=3e-3)


@pytest.mark.slow
def test_split_sweep_accuracy_and_energy(kws):
    from cimsdk.sim import calibrate as cal
    from cimsdk.sim import simulate as sim

    x = _rand(32, 5)
    cin = cal.layer_inputs(kws.image, x)
    ref_pred = sim.reference_outputs(kws.image, x).argmax(axis=-1)
    sw = sim.split_sweep(kws.image, kws.target, load_noise("reram"), x, None, ref_pred, 2, 0, cin)
    pts = sw["digital_bits"]
    assert list(pts) == ["0", "2", "4", "6", "8"] and sw["metric"] == "agreement"
    assert pts["8"]["mean"] >= 0.97  # all digital: only the float requantization of the noisy path can differ
    assert pts["8"]["mean"] >= pts["0"]["mean"]
    energies = [p["macro_energy_uj"] for p in pts.values()]
    assert energies == sorted(energies) and energies[0] < energies[-1]


@pytest.mark.slow
def test_simulate_cli_plots_the_split_on_kws_with_10_chips(tmp_path):
    x = _rand(128, 7)
    np.save(tmp_path / "x.npy", x)
    img = tmp_path / "kws"
    run = [sys.executable, "-m", "cimsdk.cli"]
    assert subprocess.run([*run, "convert", str(KWS), "-t", "hybrid-cim", "-o", str(img), "-q"]).returncode == 0
    out = tmp_path / "sim"
    p = subprocess.run([*run, "simulate", str(img / "model.cimg"), "--data", str(tmp_path / "x.npy"),
                        "--trials", "10", "-o", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "digital/analog split" in p.stdout
    res = json.loads((out / "simulate.json").read_text())
    sw = res["split_sweep"]
    assert sw["trials"] == 10 and list(sw["digital_bits"]) == ["0", "2", "4", "6", "8"]
    assert all(len(q["per_chip"]) == 10 for q in sw["digital_bits"].values())
    assert (out / "split_sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
