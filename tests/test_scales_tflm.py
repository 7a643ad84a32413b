"""Quantization parameters against the installed TFLM: random scales over many decades.

Each op's rescaling factor combines float32 scales; TFLM's Prepare widens them to double before
multiplying (an older TFLite took the FULLY_CONNECTED input x filter product in float32, 1 LSB off on
a real autoencoder). One small model per op is built with TensorFlow, then its scales are patched in
the flatbuffer to random values (1e-8 .. 1e2) and the converted model is run against TFLM. For the
matrix ops the output scale and the inputs are chosen so that outputs sit on rounding boundaries
(accumulator x multiplier = k + 0.5), where a multiplier a few units off flips the result.
Expected values come only from TFLM.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from cimconv.pipeline import convert
from cimconv.reader import parse_model
from cimsdk.golden import Executor

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")
tflite = pytest.importorskip("tflite")
pytest.importorskip("tflite_micro")

from cimsdk.reference import TFLM  # noqa: E402

N_DEFAULT = 120  # cases per op in the default run (x 3 matrix ops, + the CPU ops)
N_SLOW = 1500


def _keras(layer, shape: tuple[int, ...], seed: int, per_tensor: bool = False) -> bytes:
    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input(shape=shape, batch_size=1)
    model = tf.keras.Model(inp, layer(inp))
    kernel, bias = layer.get_weights()
    rng = np.random.default_rng(seed)
    layer.set_weights([kernel, rng.normal(0, 0.3, bias.shape).astype(bias.dtype)])

    def rep():
        for _ in range(32):
            yield [rng.normal(size=(1, *shape)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    # one filter scale, as older converters (and the autoencoder) give Dense layers
    conv._experimental_disable_per_channel_quantization_for_dense_layers = per_tensor
    return conv.convert()


def _fn(fn, shapes: list[tuple[int, ...]], seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    specs = [tf.TensorSpec(s, tf.float32) for s in shapes]
    f = tf.function(fn, input_signature=specs)

    def rep():
        for _ in range(32):
            yield [rng.uniform(-2, 2, s).astype(np.float32) for s in shapes]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def _const(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).uniform(-2, 2, shape).astype(np.float32)


BUILDERS = {
    "fc": lambda: _keras(tf.keras.layers.Dense(12), (512,), 1, per_tensor=True),  # long rows: accumulators of millions
    "conv": lambda: _keras(tf.keras.layers.Conv2D(5, 3), (5, 5, 3), 2),
    "depthwise": lambda: _keras(tf.keras.layers.DepthwiseConv2D(3), (5, 5, 4), 3),
    # the second operand is a constant (the image has one input); its scale is patched too
    "add": lambda: _fn(lambda a: a + _const((1, 6, 4)), [(1, 6, 4)], 4),
    "mul": lambda: _fn(lambda a: a * _const((1, 1, 4)), [(1, 6, 4)], 5),
    "mean": lambda: _fn(lambda x: tf.reduce_mean(x, axis=[1, 2]), [(1, 3, 5, 6)], 6),
    "avgpool": lambda: _fn(lambda x: tf.nn.avg_pool2d(x, 2, 2, "VALID"), [(1, 6, 6, 3)], 7),
    "softmax": lambda: _fn(lambda x: tf.nn.softmax(x), [(1, 16)], 8),
    "logistic": lambda: _fn(lambda x: tf.sigmoid(x), [(1, 32)], 9),
}
MATRIX_OPS = {"fc": "FULLY_CONNECTED", "conv": "CONV_2D", "depthwise": "DEPTHWISE_CONV_2D"}


@pytest.fixture(scope="session")
def base_models(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("scales")
    out = {}
    for name, build in BUILDERS.items():
        p = folder / f"{name}.tflite"
        if not p.exists():
            p.write_bytes(build())
        out[name] = p.read_bytes()
    return out


def patch_scales(model: bytes, scales: dict[int, np.ndarray]) -> bytes:
    """Overwrite tensors' scale vectors in place (same lengths); the rest of the file is untouched."""
    buf = bytearray(model)
    sg = tflite.Model.GetRootAsModel(buf, 0).Subgraphs(0)
    for t, values in scales.items():
        view = sg.Tensors(t).Quantization().ScaleAsNumpy()
        assert view.size == np.size(values), (t, view.size, np.size(values))
        view[:] = np.asarray(values, np.float32).reshape(-1)
    return bytes(buf)


def decades(rng: np.random.Generator, lo: float, hi: float, size=None):
    return np.float32(10.0 ** rng.uniform(lo, hi, size))


def run_both(model: bytes, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.tflite"
        p.write_bytes(model)
        conv = convert(p, "sram-dcim")
    return Executor(conv.image_bytes).run(xs), TFLM(model).run(xs)


def assert_same(name: str, case: int, model: bytes, xs: np.ndarray, what: str) -> None:
    ours, ref = run_both(model, xs)
    bad = np.argwhere(ours != ref)
    assert bad.size == 0, (f"{name} case {case} ({what}): {len(bad)} of {ref.size} elements differ from TFLM, "
                           f"first at {bad[0].tolist()}: ours {ours[tuple(bad[0])]} TFLM {ref[tuple(bad[0])]}")


# --- matrix ops: input x filter / output --------------------------------------------------------------
def fixed_point_outputs(acc: np.ndarray, q: int, shift: int) -> np.ndarray:
    """TFLM MultiplyByQuantizedMultiplier for shift <= 0 (used only to find boundary inputs)."""
    ab = acc.astype(np.int64) * q
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    hi = np.trunc((ab + nudge) / float(1 << 31)).astype(np.int64)  # exact: |ab| < 2^52
    e = -shift
    mask = (1 << e) - 1
    return (hi >> e) + ((hi & mask) > ((mask >> 1) + (hi < 0)))


def boundary_inputs(rng, w: np.ndarray, bias: np.ndarray, in_zp: int, s_in, s_w, s_out, n: int) -> np.ndarray:
    """FC inputs whose accumulators sit where a multiplier a few units off (or one taken from a float32
    scale product) changes the output: w[:, 0] is 1, so input 0 steers each accumulator exactly."""
    from cimconv.qmath import quantize_multiplier

    q, shift = quantize_multiplier(float(s_in) * float(s_w) / float(s_out))
    q32, _ = quantize_multiplier(float(np.float32(s_in) * np.float32(s_w)) / float(s_out))
    reach = int(np.abs(w).sum(axis=1).min()) * 120
    outer = np.arange(reach * 3 // 5, reach + 1, dtype=np.int64)  # boundaries a multiplier error crosses
    acc = np.concatenate([-outer, outer])  # grow with the accumulator: search the outer band only
    base = fixed_point_outputs(acc, q, shift)
    flips = np.zeros(acc.size, bool)
    for other in {q32, q - 16, q - 1, q + 1, q + 16}:
        flips |= fixed_point_outputs(acc, other, shift) != base
    targets = acc[flips & (np.abs(base) < 100)]
    xs = []
    for t in rng.permutation(targets)[:n]:
        j = int(rng.integers(w.shape[0]))
        wj = w[j, 1:]
        a = float(t - bias[j]) / float(np.abs(wj).sum())  # lean every input along its weight's sign
        x = np.clip(np.rint(in_zp + a * np.sign(wj) + rng.normal(0, 3, wj.size)), -128, 127).astype(np.int64)
        r = int(t - bias[j] - ((x - in_zp) * wj).sum())
        for i in rng.permutation(wj.size):  # then close the gap one input at a time
            step = int(np.clip(round(r / wj[i]), -128 - x[i], 127 - x[i]))
            x[i] += step
            r -= step * int(wj[i])
        if -128 <= in_zp + r <= 127:
            xs.append(np.concatenate([[in_zp + r], x]).astype(np.int8))
    return np.array(xs, np.int8).reshape(-1, w.shape[1])


def _matrix_case(name: str, base: bytes, case: int) -> int:
    rng = np.random.default_rng(1000 * case + len(name))
    g = parse_model(base)
    op = next(o for o in g.operators if o.opcode == MATRIX_OPS[name])
    x_t, w_t, b_t, y_t = op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]
    w, bias = g.tensors[w_t].data.astype(np.int64), g.tensors[b_t].data.astype(np.int64)
    n_scales = g.tensors[w_t].quant.scale.size
    in_zp = g.tensors[x_t].quant.zp
    s_in = decades(rng, -6, 1)
    s_w = decades(rng, -5, 0) * (np.float32(rng.uniform(0.3, 3.0, n_scales)) if n_scales > 1 else np.float32(1))
    s_w = np.atleast_1d(np.float32(s_w))
    shape = g.tensors[x_t].shape
    xs = rng.integers(-128, 128, size=(16, *shape[1:])).astype(np.int8)
    on_boundary = 0
    if name == "fc":
        # large weights (so accumulators reach millions) and the largest rescaling factor that keeps
        # outputs in range: the most accumulators near a boundary a slightly-off multiplier crosses
        w = rng.integers(100, 128, w.shape) * rng.choice([-1, 1], w.shape)
        w[:, 0] = 1
        base = patch_weights(base, w_t, w.astype(np.int8))
        reach = int(np.abs(w).sum(axis=1).min()) * 120
        s_out = np.float32(float(s_in) * float(s_w[0]) / (rng.uniform(0.4, 0.9) * 100 / reach))
        edge = boundary_inputs(rng, w, bias, in_zp, s_in[()], s_w[0], s_out, 24)
        on_boundary = len(edge)
        xs = np.concatenate([edge, xs[:8]])
    else:
        taps = w[..., 0].size if name == "depthwise" else w[0].size
        typical = 74.0 * float(np.sqrt((w.astype(np.float64) ** 2).mean() * taps))
        s_out = np.float32(float(s_in) * float(s_w.max()) * typical / rng.uniform(20, 150))
    scales = {x_t: [s_in], w_t: s_w, b_t: np.float32(np.float64(s_in) * s_w.astype(np.float64)), y_t: [s_out]}
    assert_same(name, case, patch_scales(base, scales), xs, f"in {s_in:.3g} w {s_w[0]:.3g} out {s_out:.3g}")
    return on_boundary


def patch_weights(model: bytes, t: int, values: np.ndarray) -> bytes:
    buf = bytearray(model)
    m = tflite.Model.GetRootAsModel(buf, 0)
    view = m.Buffers(m.Subgraphs(0).Tensors(t).Buffer()).DataAsNumpy()
    view[:] = values.reshape(-1).view(np.uint8)
    return bytes(buf)


# --- CPU ops ------------------------------------------------------------------------------------------
def _cpu_case(name: str, base: bytes, case: int) -> None:
    rng = np.random.default_rng(1000 * case + len(name))
    g = parse_model(base)
    op = next(o for o in g.operators if o.opcode not in ("QUANTIZE", "DEQUANTIZE"))
    ins = [t for t in op.inputs if t >= 0 and g.tensors[t].quant is not None]
    scales: dict[int, list] = {}
    if name in ("softmax", "logistic"):  # the output scale is fixed at 1/256 by the kernel
        scales[ins[0]] = [decades(rng, -4, 0.8)]  # above ~8 the converter refuses LOGISTIC
    else:
        base_s = decades(rng, -7, 2)
        for t in ins:
            scales[t] = [np.float32(base_s * 10.0 ** rng.uniform(-1.5, 1.5))]
        if name == "avgpool":  # TFLM's int8 average pool takes the input's scale for the output
            scales[op.outputs[0]] = scales[ins[0]]
        elif name == "mul":
            scales[op.outputs[0]] = [np.float32(float(scales[ins[0]][0]) * float(scales[ins[1]][0])
                                                * 10.0 ** rng.uniform(-0.5, 2.5))]
        else:
            scales[op.outputs[0]] = [np.float32(base_s * 10.0 ** rng.uniform(-1.0, 1.0))]
    xs = rng.integers(-128, 128, size=(32, *g.tensors[g.inputs[0]].shape[1:])).astype(np.int8)
    assert_same(name, case, patch_scales(base, scales), xs, str(scales))


def _run(name: str, base_models, n: int) -> None:
    boundary = 0
    for case in range(n):
        if name in MATRIX_OPS:
            boundary += _matrix_case(name, base_models[name], case)
        else:
            _cpu_case(name, base_models[name], case)
    if name == "fc":
        assert parse_model(base_models[name]).tensors[1].quant.scale.size == 1  # the per-tensor path
    if name == "fc":  # the cases must really reach rounding boundaries, or the test proves little
        assert boundary >= 4 * n, f"only {boundary} boundary inputs in {n} cases"


@pytest.mark.parametrize("name", list(BUILDERS))
def test_scales_match_tflm(name: str, base_models) -> None:
    _run(name, base_models, {"fc": 12}.get(name, N_DEFAULT if name in MATRIX_OPS else N_DEFAULT // 3))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BUILDERS))
def test_scales_match_tflm_thousands(name: str, base_models) -> None:
    _run(name, base_models, 300 if name == "fc" else N_SLOW)
