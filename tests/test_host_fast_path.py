"""The golden model's fast path (BLAS float sums where provably exact, the fused int32 depthwise kernel, the
whole program run chunk by chunk on threads) equals the exact path (`tiles`: tile by tile in int64) on every
tensor: every shared model, random depthwise layers, and layers built at the bounds where the fast path must
fall back (float32 for dense sums: tests/test_mac_backends.py; int32 for the fused depthwise kernel: here).
"""

from __future__ import annotations

import numpy as np
import pytest
from mac_cases import depthwise_layers_image, huge_depthwise_image
from paths import MODELS, TARGETS

from cimconv.pipeline import convert
from cimsdk.golden import Executor
from cimsdk.golden.cim_ops import CimModel
from cimsdk.mac import exactness, fused
from cimsdk.reference import TFLM

SHARED_MODELS = sorted(p.relative_to(MODELS).with_suffix("").as_posix()
                       for p in [*MODELS.glob("*.tflite"), *MODELS.glob("real/*.tflite")]
                       if "float32" not in p.name and "float" not in p.stem.split("_")[-1]
                       and p.name != "audio_preprocessor_int8.tflite")


def _inputs(image, n: int, seed: int, tensor: int) -> np.ndarray:
    rec = image.tensors[tensor]
    info = np.iinfo(rec.dtype)
    return np.random.default_rng(seed).integers(info.min, info.max + 1, size=(n, *rec.shape[1:])).astype(rec.dtype)


def test_shared_model_list_is_complete():
    assert {"kws_ref_model", "vww_96_int8", "real/mithan_vww", "real/tflm_micro_speech_lstm"} <= set(SHARED_MODELS)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", SHARED_MODELS)
def test_fast_equals_tiles_on_shared_models(name, target):
    """A batch of several chunks (the executor splits stateless programs), every tensor equal."""
    img = convert(MODELS / f"{name}.tflite", target).image
    fast = Executor(img, backend="fast", chunk=8)
    n = 19  # uneven chunks (a stateful program runs as one batch of streams)
    xs = [_inputs(img, n, seed=7 + j, tensor=io.tensor) for j, io in enumerate(img.inputs)]
    outs_f, got = fast.run_all(xs, capture=True)
    outs_t, want = Executor(img, backend="tiles").run_all(xs, capture=True)
    assert set(got) == set(want)
    for t in want:
        assert np.array_equal(got[t], want[t]), f"tensor {t}"
    for a, b in zip(outs_f, outs_t, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("target", TARGETS)
def test_chunked_program_equals_tflm(target):
    """KWS over a batch of several chunks on the worker threads, against the TFLM interpreter."""
    model = MODELS / "kws_ref_model.tflite"
    img = convert(model, target).image
    ex = Executor(img, chunk=24)
    assert Executor(img).chunk_items() > 24  # (the default chunk is larger)
    n = 3 * 24 + 5
    xs = _inputs(img, n, seed=3, tensor=img.input_tensor)
    assert np.array_equal(ex.run(xs), TFLM(model).run(xs))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_fused_depthwise_equals_tiles(target, seed):
    img = depthwise_layers_image(target, 16, seed)
    assert any(op.params["depth_mult"] > 1 for op in img.ops)
    assert any(op.params["stride_w"] > 1 for op in img.ops) and any(op.params["pad_left"] > 0 for op in img.ops)
    fast, tiles = CimModel(img, backend="fast"), CimModel(img, backend="tiles")
    fast_ex, tiles_ex = Executor(img, cim=fast), Executor(img, cim=tiles)
    for i, op in enumerate(img.ops):
        x = _inputs(img, 7, seed * 100 + i, op.inputs[0])
        y = fast_ex.run_op(i, [x])
        assert fast._dw[op.params["matrix"]] is not None  # the fused kernel ran
        assert np.array_equal(y, tiles_ex.run_op(i, [x])), (i, op.params)


@pytest.mark.parametrize("target", TARGETS)
def test_depthwise_past_the_int32_bound_falls_back(target):
    """128 x 128 x 363^2 > 2^31: int32 sums could wrap, so the fast backend takes its int64 path; 362^2 fits."""
    assert fused.fits(np.full((1, 362 * 362), -128, np.int8))
    img = huge_depthwise_image(target, 363)
    m = img.matrices[0]
    assert exactness.sum_bound(m.weights) >= 1 << 31
    x = np.full((2, 363, 363, 1), -128, np.int8)
    x[1, -1, -1, 0] = 127
    want = (x.reshape(2, -1).astype(np.int64) * m.weights.astype(np.int64)).sum(axis=1)  # plain integer sums
    assert want.max() >= 1 << 31  # an int32 accumulator would have wrapped
    fast = CimModel(img, backend="fast")
    y = Executor(img, cim=fast).run_op(0, [x])
    assert fast._dw[0] is None  # not the fused kernel
    assert np.array_equal(fast.sums(img.ops[0], x, img.tensors[img.ops[0].outputs[0]]).astype(np.int64).ravel(), want)
    assert np.array_equal(y, Executor(img, backend="tiles").run_op(0, [x]))


@pytest.mark.parametrize("seed", [3, 4])
def test_noisy_fused_depthwise_equals_taps_then_finish(seed):
    """The simulator's one-pass depthwise (`noisy.depthwise_finish`) gives the same int8 outputs as the shared tap
    kernel on the padded input followed by the noisy finish: the same float32 sums and the same noise draws."""
    from cimsdk.mac import accumulate, noisy
    from cimsdk.mac.geometry import pad_input

    if not noisy.COMPILED:
        pytest.skip("the one-pass kernel needs numba")
    img = depthwise_layers_image("nor-acim", 12, seed)
    rng = np.random.default_rng(seed)
    pool = noisy.make_pool(rng, max(m.cols for m in img.matrices))
    chips = 3
    for op in img.ops:
        p, m = op.params, img.matrices[op.params["matrix"]]
        x = _inputs(img, chips * 4, seed, op.inputs[0])
        taps = m.weights.T.reshape(p["kernel_h"], p["kernel_w"], m.cols).astype(np.float32)
        w = (taps[None] * rng.uniform(0.9, 1.1, (chips, 1, 1, m.cols))).astype(np.float32) * np.float32(0.02)
        b = rng.normal(0, 1, (chips, m.cols)).astype(np.float32)
        s = rng.uniform(0, 2, (chips, m.cols)).astype(np.float32)
        out = img.tensors[op.outputs[0]]
        hw = (out.shape[1], out.shape[2])
        got = noisy.depthwise_finish(x, w, p, hw, b, s, pool, 99)
        acc = accumulate.depthwise_taps(pad_input(x, p, hw), w, p, hw)
        want = noisy.finish(acc.reshape(len(x), -1, m.cols), b, s, pool, 99, p["out_zp"], p["act_min"], p["act_max"])
        assert np.array_equal(got, want.reshape(got.shape)), p
        assert got.std() > 0
