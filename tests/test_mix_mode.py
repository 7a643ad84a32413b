"""MIX mode of nor-acim (WTM2101 class, issue 19 item 2): weights beyond the analog weight range (a target
parameter) keep their low bits on the array and their high bits on the CPU. Without --mix such a model does
not fit; with it the ideal macro stays bit-exact with TFLM, only the array's low bits carry analog error, and
the report counts the CPU's multiply-accumulates."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from paths import MODELS, ROOT

from cimconv.errors import FitError
from cimconv.mix_mode import split, split_bits
from cimconv.pipeline import convert
from cimconv.target import load_target
from cimsdk.golden import Executor
from cimsdk.reference import TFLM
from cimsdk.sim.analog import AnalogCimModel
from cimsdk.sim.noise import load_noise

KWS = MODELS / "kws_ref_model.tflite"
RANGE = 63  # a narrower analog range than WTM2101's 275: the int8 weights beyond 63 split at 6 bits


@pytest.fixture(scope="module")
def narrow(tmp_path_factory):
    text = (ROOT / "converter" / "targets" / "nor-acim.toml").read_text()
    assert "analog_weight_max = 275 " in text
    path = tmp_path_factory.mktemp("mix") / "nor-narrow.toml"
    path.write_text(text.replace("analog_weight_max = 275 ", f"analog_weight_max = {RANGE} "))
    return str(path)


@pytest.fixture(scope="module")
def mixed(narrow):
    return convert(KWS, narrow, mix=True)


def test_split_reassembles_every_int8_weight():
    w = np.arange(-128, 128)
    for limit in (15, 63, 100, 275):
        lo, hi = split(w, limit)
        assert np.array_equal(lo + hi, w)
        assert np.abs(lo).max() <= limit  # what the array holds fits its range
        inside = np.abs(w) <= limit
        assert not hi[inside].any()  # weights within range stay whole on the array
        assert np.all(hi[~inside] % (1 << split_bits(limit)) == 0)  # the CPU part is the high bits
    assert split_bits(275) == 8  # WTM2101: the low byte on the array


def test_shipped_nor_acim_range_holds_every_int8_weight():
    assert load_target("nor-acim").analog_weight_max == 275
    conv = convert(KWS, "nor-acim", mix=True)
    assert "mix" not in conv.image.meta


def test_without_mix_the_model_does_not_fit(narrow):
    with pytest.raises(FitError, match="--mix"):
        convert(KWS, narrow)
    r = subprocess.run([sys.executable, "-m", "cimsdk.cli", "convert", str(KWS), "-t", narrow, "-o", "/nonexistent/x"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "exceed the analog weight range" in r.stderr and "Traceback" not in r.stderr


def test_report_counts_the_cpu_part(mixed):
    meta = mixed.image.meta["mix"]
    assert meta["analog_max"] == RANGE and meta["split_bits"] == 6
    beyond = {mi: int((np.abs(m.weights.astype(int)) > RANGE).sum()) for mi, m in enumerate(mixed.image.matrices)}
    assert {int(k): v for k, v in meta["cpu_weights"].items()} == {k: v for k, v in beyond.items() if v}
    rows = [r for r in mixed.report["layers"] if "mix_cpu_macs" in r]
    assert rows and all(r["mix_cpu_macs"] > 0 for r in rows)
    plain = convert(KWS, "nor-acim").report["totals"]["cpu_cycles"]
    assert mixed.report["totals"]["cpu_cycles"] > plain


def test_ideal_is_bit_exact(mixed):
    x = np.random.default_rng(2).integers(-128, 128, (20, 49, 10, 1)).astype(np.int8)
    want = TFLM(KWS).run(x)
    np.testing.assert_array_equal(Executor(mixed.image_bytes).run(x), want)
    ideal = AnalogCimModel(mixed.image, mixed.target, load_noise("ideal"), trials=1)
    ideal.shortcut = False  # run the split (array part + CPU part) through the analog kernels
    np.testing.assert_array_equal(Executor(mixed.image, cim=ideal).run(x), want)


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_only_the_array_bits_carry_error(mixed, narrow, mode):
    """Accumulator error of one layer under the NOR-flash preset: the same weights all on the array (a range
    wide enough for every int8 weight) against MIX mode, where the high bits are exact on the CPU."""
    nz = load_noise("nor-flash")
    whole = convert(KWS, "nor-acim")
    mi = max(mixed.image.meta["mix"]["cpu_weights"], key=lambda k: mixed.image.meta["mix"]["cpu_weights"][k])
    mi = int(mi)
    w = mixed.image.matrices[mi].weights.astype(np.float64)
    if mixed.image.matrices[mi].kind == 1:
        pytest.skip("the layer with most split weights is depthwise")
    xs = np.random.default_rng(1).integers(-128, 128, (1, 48, w.shape[1])).astype(np.int8)
    y0 = xs[0].astype(np.float64) @ w.T
    errs = []
    for conv in (whole, mixed):
        model = AnalogCimModel(conv.image, conv.target, nz, trials=2, seed=3, mode=mode)
        y = model.accumulate(mi, np.broadcast_to(xs, (2, *xs.shape[1:])), False).astype(np.float64)
        errs.append(float(np.mean((y - y0[None]) ** 2)))
    assert 0 < errs[1] < errs[0], errs
