"""The multiply-accumulate backends (cimsdk.mac) on one matrix of cases.

Every backend runs the same cases: the shared int8 models converted for each target (random inputs, against
the TFLM interpreter too) and images of random CiM layers (convolutions, depthwise with multipliers, fully
connected layers over several row and column tiles). The exact backends (`tiles`, `fast`) equal each other
on every tensor and TFLM on the output; the `noisy` backend with zero noise, run through its own kernels (not
the exact shortcut), equals them too. Layers built at and just past the float32 exactness bound check the
fast backend's choice of accumulation type against plain integer sums.
"""

from __future__ import annotations

import numpy as np
import pytest
from mac_cases import bound_layer_image, random_layers_image
from paths import INT8_MODELS, MODELS, TARGETS

from cimconv.image import parse_image, write_image
from cimconv.pipeline import convert
from cimconv.target import load_target
from cimsdk.golden import Executor
from cimsdk.golden.cim_ops import CimModel
from cimsdk.mac import exactness
from cimsdk.reference import TFLM
from cimsdk.sim.analog import AnalogCimModel
from cimsdk.sim.noise import load_noise


def _inputs(image, n: int, seed: int, tensor: int | None = None) -> np.ndarray:
    rec = image.tensors[image.input_tensor if tensor is None else tensor]
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *rec.shape[1:])).astype(np.int8)


def _noisy_zero(image, target_name: str, trials: int = 2) -> AnalogCimModel:
    t = load_target(target_name)
    if not (t.adc_bits == 0 or t.adc_lossless):
        pytest.skip(f"{target_name}: a lossy ADC is not exact without noise")
    model = AnalogCimModel(image, t, load_noise("ideal"), trials=trials)
    model.shortcut = False  # the noisy kernels themselves, not the exact fast backend
    return model


def _run_ops(image, cim, xs_by_op: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    ex = Executor(image, cim=cim)
    return {i: ex.run_op(i, [x]) for i, x in xs_by_op.items()}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", INT8_MODELS)
def test_backends_on_shared_models(name, target):
    conv = convert(MODELS / f"{name}.tflite", target)
    img = conv.image
    xs = _inputs(img, 6, seed=len(name))
    _, fast = Executor(img, backend="fast").run(xs, capture=True)
    _, tiles = Executor(img, backend="tiles").run(xs, capture=True)
    for t in fast:
        assert np.array_equal(fast[t], tiles[t]), f"tensor {t}"
    want = TFLM(MODELS / f"{name}.tflite").run(xs)
    assert np.array_equal(fast[img.output_tensor], want)
    # the noisy backend, no noise, two chips: every CiM op on the exact inputs gives the exact outputs
    noisy = _noisy_zero(img, target)
    ins = {i: np.concatenate([fast[op.inputs[0]]] * 2) for i, op in enumerate(img.ops) if op.cim}
    for i, y in _run_ops(img, noisy, ins).items():
        want_i = fast[img.ops[i].outputs[0]]
        assert np.array_equal(y[: len(xs)], want_i) and np.array_equal(y[len(xs) :], want_i), img.ops[i].opcode


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("seed", [1, 2])
def test_backends_on_random_layers(target, seed):
    img = random_layers_image(target, 14, seed)
    assert {op.opcode for op in img.ops} == {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    assert any(len(m.tiles) > 1 for m in img.matrices)  # tiled matrices are in the set
    xs = {i: _inputs(img, 5, seed * 100 + i, op.inputs[0]) for i, op in enumerate(img.ops)}
    fast = _run_ops(img, CimModel(img, backend="fast"), xs)
    tiles = _run_ops(img, CimModel(img, backend="tiles"), xs)
    noisy = _run_ops(img, _noisy_zero(img, target, trials=1), xs)
    for i in xs:
        assert np.array_equal(fast[i], tiles[i]), (i, img.ops[i].opcode)
        assert np.array_equal(noisy[i], tiles[i]), (i, img.ops[i].opcode)
    # and the accumulators themselves against plain integer sums (written here, not the code under test)
    for i, op in enumerate(img.ops):
        if op.opcode != "FULLY_CONNECTED":
            continue
        m = img.matrices[op.params["matrix"]]
        x = xs[i].reshape(-1, m.rows).astype(np.int64)
        want = x @ m.weights.astype(np.int64).T
        out_rec = img.tensors[op.outputs[0]]
        for backend in ("fast", "tiles"):
            got = CimModel(img, backend=backend).sums(op, xs[i], out_rec)
            assert np.array_equal(got.astype(np.int64), want), backend


def test_exact_dtype_bound():
    assert exactness.exact_dtype(np.full((3, 1024), -128, np.int8)) is np.float32  # 128 x 128 x 1024 = 2^24
    assert exactness.exact_dtype(np.full((3, 1025), -128, np.int8)) is np.float64
    w = np.zeros((2, 4000), np.int8)
    w[1, :1032] = 127  # 128 x 127 x 1032 < 2^24: one heavy column decides
    assert exactness.exact_dtype(w) is np.float32
    w[1, 1032] = 1
    assert exactness.exact_dtype(w) is np.float32
    w[1, 1033:1040] = 127
    assert exactness.exact_dtype(w) is np.float64


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("k,weight,dtype", [(1032, 127, np.float32), (1033, 127, np.float64),
                                            (1024, -128, np.float32), (1025, -128, np.float64)])
def test_layers_at_and_past_the_float32_bound(target, k, weight, dtype):
    img = parse_image(write_image(bound_layer_image(target, k, weight)))  # through the image format
    m = img.matrices[0]
    assert len(m.tiles) > 1 or k <= load_target(target).rows  # past one array's rows: several row tiles
    op = img.ops[0]
    out_rec = img.tensors[op.outputs[0]]
    # the largest sums the layer can make, and odd ones: float32 rounds them past 2^24
    x = np.full((2, k), -128, np.int8)
    x[1, -1] = -127  # an odd product with weight 127
    want = x.astype(np.int64) @ m.weights.astype(np.int64).T
    fast = CimModel(img, backend="fast")
    assert fast._weights(0, op).dtype == dtype
    got = fast.sums(op, x, out_rec)
    assert np.array_equal(got.astype(np.int64), want)
    assert np.array_equal(CimModel(img, backend="tiles").sums(op, x, out_rec), want)
    assert np.array_equal(Executor(img).run_op(0, [x]), Executor(img, backend="tiles").run_op(0, [x]))
    naive = x.astype(np.float32) @ m.weights.T.astype(np.float32)
    past = np.abs(want).max() > exactness.F32_EXACT
    assert past == (dtype is np.float64)
    if past and weight == 127:  # odd sums above 2^24: the float32 route would have been wrong
        assert not np.array_equal(naive.astype(np.int64), want)


@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.float64])
def test_requantize_paths_equal_mbqm(dtype):
    """The compiled and numpy requantization equal TFLM's MultiplyByQuantizedMultiplier (fixedpoint.mbqm),
    accumulators in every dtype a backend produces."""
    from cimsdk.golden.fixedpoint import mbqm
    from cimsdk.mac import requant

    rng = np.random.default_rng(7)
    n = 48
    limit = exactness.F32_EXACT if dtype is np.float32 else 1 << 26
    acc = rng.integers(-limit, limit + 1, size=(500, n))
    acc[0], acc[1] = limit, -limit
    acc[2, :] = np.arange(n) - n // 2  # small values around zero: the rounding ties
    bias = rng.integers(-5000, 5000, size=n)
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=n)
    mult[:3] = (1 << 30, (1 << 31) - 1, 1 << 30)
    shift = rng.integers(-31, 1, size=n)
    shift[3:6] = (1, 2, 0)
    zp, lo, hi = -7, -100, 120
    t = acc.astype(np.int64) + bias
    left = np.maximum(shift, 0)
    # the reference works in int32 like TFLM: keep the shifted accumulator inside int32
    ok = np.all(np.abs(t << left) < (1 << 31), axis=0)
    want = np.clip(mbqm(t, mult, shift) + zp, lo, hi).astype(np.int8)
    a = acc.astype(dtype)
    got_c = requant.requantize(a, bias, mult, shift, zp, lo, hi)
    got_n = requant.requantize_numpy(a, bias, mult, shift, zp, lo, hi)
    assert np.array_equal(got_c[:, ok], want[:, ok])
    assert np.array_equal(got_n, got_c)
    assert ok.sum() > n // 2
