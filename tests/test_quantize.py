"""The quantizer on small float models of our own with known ranges: every expected range, scale, zero point,
integer weight and bias is computed here from the TFLite quantization spec, not by the code under test.
The quantized models run in TFLM, and `convert` + the golden model are bit-exact with them."""

from __future__ import annotations

import os

import numpy as np
import pytest

from cimconv.quantize import QuantOptions, quantize_file
from cimconv.reader import parse_model

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def float_tflite(layers, shape, weights=None, tmp_path=None, name="m"):
    """A float .tflite (TensorFlow's converter, no optimizations) of a Sequential stack; `weights` overrides
    each layer's weights in order."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input(shape=shape, batch_size=1)
    x = inp
    for layer in layers(tf.keras.layers):
        x = layer(x)
    model = tf.keras.Model(inp, x)
    if weights:
        for layer, ws in zip([ly for ly in model.layers if ly.get_weights()], weights, strict=True):
            layer.set_weights([np.asarray(w, np.float32) for w in ws])
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(data)
    return path


def tensors_by_role(data: bytes):
    """(input, [(weights, bias, output) per matmul op], model output) tensors of a quantized model."""
    g = parse_model(data)
    mm = [op for op in g.operators if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    return (g.tensors[g.inputs[0]],
            [(g.tensors[op.inputs[1]], g.tensors[op.inputs[2]], g.tensors[op.outputs[0]]) for op in mm],
            g.tensors[g.outputs[0]])


def spec_params(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 for [lo, hi] (range widened to include 0): scale = range / 255, zero point = the int8
    code of 0.0."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0
    return scale, int(round(-128 - lo / scale))


def check_act(t, lo, hi, rel=1e-5):
    scale, zp = spec_params(lo, hi)
    assert t.dtype == "int8"
    assert t.quant.s == pytest.approx(scale, rel=rel), (t.name, t.quant.s, scale)
    assert t.quant.zp == zp, (t.name, t.quant.zp, zp)


def tflm_run(data: bytes, xq: np.ndarray) -> np.ndarray:
    from cimsdk.reference import TFLM

    return TFLM(data).run(xq)


def quantize_input(x: np.ndarray, t) -> np.ndarray:
    return np.clip(np.round(x / t.quant.s) + t.quant.zp, -128, 127).astype(np.int8)


# A Dense layer with a known weight matrix; its output range is known from the inputs.
W = np.array([[0.50, -1.27, 0.25], [0.10, 0.30, -0.60], [-0.40, 0.80, 1.00], [0.05, 0.0, -0.20]], np.float32)  # [in, out]
B = np.array([0.3, -0.2, 0.1], np.float32)


@pytest.fixture(scope="module")
def dense_path(tmp_path_factory):
    return float_tflite(lambda L: [L.Dense(3)], (4,), [[W, B]], tmp_path_factory.mktemp("dense"))


def calib_grid() -> np.ndarray:
    """Inputs with a known range: each feature runs over [-2, 3] on a grid (min -2, max 3 exactly)."""
    g = np.linspace(-2.0, 3.0, 11, dtype=np.float32)
    return np.stack(np.meshgrid(g, g, g, g, indexing="ij"), -1).reshape(-1, 4)


def test_minmax_dense_ranges_scales_zero_points_weights_bias(dense_path):
    x = calib_grid()
    res = quantize_file(dense_path, x, QuantOptions(method="minmax", bias_correction=False))
    t_in, [(tw, tb, tout)], _ = tensors_by_role(res.model)
    check_act(t_in, -2.0, 3.0)
    y = x.astype(np.float64) @ W + B
    check_act(tout, y.min(), y.max())
    # FULLY_CONNECTED weights: per tensor (TFLite's default), symmetric, scale max|w| / 127 = 1.27 / 127.
    w_scale = 1.27 / 127
    assert tw.dtype == "int8" and tw.quant.zp == 0
    assert tw.quant.s == pytest.approx(w_scale, rel=1e-6)
    np.testing.assert_array_equal(tw.data, np.round(W.T / w_scale).astype(np.int8))
    assert tw.data.min() >= -127
    in_scale = 5.0 / 255
    assert tb.dtype == "int32" and tb.quant.s == pytest.approx(in_scale * w_scale, rel=1e-5)
    np.testing.assert_array_equal(tb.data, np.round(B / (in_scale * w_scale)).astype(np.int32))


def test_quantized_dense_runs_in_tflm_close_to_float(dense_path):
    x = calib_grid()
    res = quantize_file(dense_path, x, QuantOptions(method="minmax"))
    t_in, _, t_out = tensors_by_role(res.model)
    xs = np.random.default_rng(1).uniform(-2, 3, size=(40, 4)).astype(np.float32)
    yq = tflm_run(res.model, quantize_input(xs, t_in))
    y = (yq.astype(np.float64) - t_out.quant.zp) * t_out.quant.s
    ref = xs.astype(np.float64) @ W + B
    # int8 input rounding (<= half a step, 5/255/2 per input) through |W| rows, plus output rounding.
    bound = 0.5 * 5 / 255 * np.abs(W).sum(axis=0) + 0.5 * t_out.quant.s + 0.02
    assert np.all(np.abs(y - ref) <= bound[None] + 1e-6)


def identity_path(tmp_path, n=1, name="identity"):
    """Dense(n) with identity weights and zero bias: its output is its input, so the output range the
    quantizer chooses is the chosen range of a known distribution."""
    return float_tflite(lambda L: [L.Dense(n)], (n,), [[np.eye(n), np.zeros(n)]], tmp_path, name)


def outlier_data() -> np.ndarray:
    """9,990 values evenly over [-1, 1] and 10 outliers at 50: min/max is [-1, 50], the 99.9th percentile ~1."""
    return np.concatenate([np.linspace(-1.0, 1.0, 9990), np.full(10, 50.0)]).astype(np.float32)[:, None]


def test_percentile_clips_outliers(tmp_path):
    x = outlier_data()
    res = quantize_file(identity_path(tmp_path), x, QuantOptions(method="percentile", percentile=99.9,
                                                                 bias_correction=False))
    t_in, [(_, _, tout)], _ = tensors_by_role(res.model)
    check_act(t_in, -1.0, 50.0)  # inputs keep their full range
    # The 0.1 % and 99.9 % points by linear interpolation between sorted values (position q * (n - 1)):
    # lo falls among the evenly spaced values, hi between the last of them (1.0) and the first outlier.
    srt = np.sort(x[:, 0].astype(np.float64))

    def pct(q: float) -> float:
        pos = q * (len(srt) - 1)
        i = int(np.floor(pos))
        return float(srt[i] + (srt[i + 1] - srt[i]) * (pos - i))

    lo, hi = pct(0.001), pct(0.999)
    assert -1.0 < lo < -0.99 and 1.0 < hi < 1.1
    check_act(tout, lo, hi, rel=1e-4)


def test_minmax_keeps_outliers(tmp_path):
    x = outlier_data()
    res = quantize_file(identity_path(tmp_path), x, QuantOptions(method="minmax", bias_correction=False))
    _, [(_, _, tout)], _ = tensors_by_role(res.model)
    check_act(tout, -1.0, 50.0)


def brute_force_mse(v: np.ndarray, lo: float, hi: float) -> float:
    """The least int8 quantize-dequantize MSE over ranges [a*lo, a*hi], a on a fine grid."""
    best = np.inf
    for a in np.linspace(0.1, 1.0, 181):
        scale, zp = spec_params(a * lo, a * hi)
        q = np.clip(np.round(v / scale) + zp, -128, 127)
        best = min(best, float(np.mean(((q - zp) * scale - v) ** 2)))
    return best


def test_mse_range_is_error_minimizing(tmp_path):
    # Half a million unit normals and one value at 15: min/max spends its 256 steps on [-4.9, 15]; clipping
    # the lone outlier costs (15 - c)^2 / N, less than the rounding error min/max pays on every value.
    rng = np.random.default_rng(3)
    v = np.concatenate([rng.normal(0, 1.0, 500_000), [15.0]]).astype(np.float32)
    opts = QuantOptions(method="mse", bias_correction=False, batch=1 << 16)
    res = quantize_file(identity_path(tmp_path), v[:, None], opts)
    _, [(_, _, tout)], _ = tensors_by_role(res.model)
    s, zp = tout.quant.s, tout.quant.zp
    vd = v.astype(np.float64)

    def mse(scale, z):
        return float(np.mean(((np.clip(np.round(vd / scale) + z, -128, 127) - z) * scale - vd) ** 2))

    ours, minmax = mse(s, zp), mse(*spec_params(float(vd.min()), 15.0))
    best = brute_force_mse(vd, float(vd.min()), 15.0)
    assert s < 0.8 * spec_params(float(vd.min()), 15.0)[0]  # clipped inside [min, 15]
    assert ours <= 1.02 * best and ours < 0.8 * minmax


def test_kl_range_clips_outliers_keeps_bulk(tmp_path):
    rng = np.random.default_rng(4)
    relu = np.maximum(rng.normal(0, 1.0, 40000), 0)  # half exact zeros, like a ReLU output
    v = np.concatenate([relu, [30.0]]).astype(np.float32)
    res = quantize_file(identity_path(tmp_path), v[:, None], QuantOptions(method="kl", bias_correction=False))
    _, [(_, _, tout)], _ = tensors_by_role(res.model)
    assert tout.quant.zp == -128  # one-sided: 0 is the lowest code
    hi = tout.quant.s * 255
    # A unit half-normal: 99.9 % of the mass lies below 3.3; the clip keeps the bulk, drops the outlier.
    assert 2.5 < hi < 10.0


def test_per_channel_conv_and_depthwise_weights(tmp_path):
    rng = np.random.default_rng(5)
    k_conv = rng.normal(0, 1, (3, 3, 2, 4)).astype(np.float32) * np.array([0.01, 0.1, 1.0, 10.0], np.float32)
    k_dw = rng.normal(0, 1, (3, 3, 4, 1)).astype(np.float32) * np.array([2.0, 0.5, 0.05, 1.0], np.float32)[:, None]
    path = float_tflite(lambda L: [L.Conv2D(4, 3, padding="same"), L.DepthwiseConv2D(3, padding="same")],
                        (6, 6, 2), [[k_conv, np.zeros(4)], [k_dw, np.zeros(4)]], tmp_path)
    x = rng.normal(0, 1, (16, 6, 6, 2)).astype(np.float32)
    res = quantize_file(path, x, QuantOptions(method="minmax", bias_correction=False))
    _, [(tc, _, _), (td, _, _)], _ = tensors_by_role(res.model)
    w_conv = k_conv.transpose(3, 0, 1, 2)  # TFLite CONV_2D filter: [out, h, w, in]
    s_conv = np.abs(w_conv).reshape(4, -1).max(axis=1) / 127
    assert tc.quant.axis == 0 and tc.quant.scale.size == 4
    np.testing.assert_allclose(tc.quant.scale, s_conv, rtol=1e-6)
    np.testing.assert_array_equal(tc.data, np.round(w_conv / s_conv[:, None, None, None]).astype(np.int8))
    w_dw = k_dw.reshape(1, 3, 3, 4)  # TFLite DEPTHWISE_CONV_2D filter: [1, h, w, channels]
    s_dw = np.abs(w_dw).reshape(-1, 4).max(axis=0) / 127
    assert td.quant.axis == 3
    np.testing.assert_allclose(td.quant.scale, s_dw, rtol=1e-6)
    np.testing.assert_array_equal(td.data, np.round(w_dw / s_dw).astype(np.int8))
    assert np.all(td.quant.zero_point == 0) and np.all(tc.quant.zero_point == 0)


def test_bias_correction_removes_weight_rounding_shift(tmp_path):
    # 16 inputs, 2 outputs. Weights 0.004 round to 0 at scale 1.27/127 = 0.01 (one weight of 1.27 sets it):
    # a systematic error of -0.004 per input on column 0, +0.003 - 0.003 = 0 net on column 1.
    w = np.zeros((16, 2), np.float32)
    w[:, 0] = 0.004
    w[0, 1] = 1.27
    w[1:, 1] = np.where(np.arange(15) % 2 == 0, 0.003, -0.003)
    b = np.array([0.5, -0.5], np.float32)
    path = float_tflite(lambda L: [L.Dense(2)], (16,), [[w, b]], tmp_path)
    rng = np.random.default_rng(6)
    x = rng.uniform(9.0, 10.0, (256, 16)).astype(np.float32)
    x[0], x[1] = 0.0, 10.0  # input range exactly [0, 10]
    plain = quantize_file(path, x, QuantOptions(method="minmax", bias_correction=False))
    corr = quantize_file(path, x, QuantOptions(method="minmax", bias_correction=True))
    _, [(tw, tb0, _)], _ = tensors_by_role(plain.model)
    _, [(tw1, tb1, _)], _ = tensors_by_role(corr.model)
    np.testing.assert_array_equal(tw.data, tw1.data)
    w_scale = 1.27 / 127
    wq = np.round(w / w_scale) * w_scale
    mean_x = x[:128].astype(np.float64).mean(axis=0)  # bias correction looks at the first 128 frames
    shift = (wq - w).T @ mean_x  # per output: the mean output error weight rounding causes
    assert shift[0] == pytest.approx(-16 * 0.004 * mean_x.mean(), rel=1e-3)
    bias_scale = (10.0 / 255) * w_scale
    np.testing.assert_array_equal(tb0.data, np.round(b / bias_scale).astype(np.int32))
    np.testing.assert_array_equal(tb1.data, np.round((b - shift) / bias_scale).astype(np.int32))
    assert tb1.data[0] - tb0.data[0] > 100  # +0.24 / 0.000392: hundreds of LSB


def test_softmax_and_relu_and_pool_parameters(tmp_path):
    path = float_tflite(lambda L: [L.Conv2D(4, 3, activation="relu"), L.AveragePooling2D(2), L.Flatten(),
                                   L.Dense(3), L.Softmax()], (6, 6, 1), None, tmp_path)
    x = np.random.default_rng(7).normal(0, 1, (32, 6, 6, 1)).astype(np.float32)
    res = quantize_file(path, x, QuantOptions(method="minmax"))
    g = parse_model(res.model)
    by_op = {op.opcode: op for op in g.operators}
    relu_out = g.tensors[by_op["CONV_2D"].outputs[0]]
    assert relu_out.quant.zp == -128  # ReLU output: [0, max]
    pool_in, pool_out = (g.tensors[by_op["AVERAGE_POOL_2D"].inputs[0]], g.tensors[by_op["AVERAGE_POOL_2D"].outputs[0]])
    assert (pool_in.quant.s, pool_in.quant.zp) == (pool_out.quant.s, pool_out.quant.zp)
    sm = g.tensors[by_op["SOFTMAX"].outputs[0]]
    assert sm.quant.s == pytest.approx(1 / 256) and sm.quant.zp == -128
    y = tflm_run(res.model, quantize_input(x[:4], g.tensors[g.inputs[0]]))
    assert y.shape == (4, 3)


def test_quantized_model_converts_bit_exact(tmp_path):
    """`convert` takes the quantizer's output like any int8 model, and the golden model equals TFLM on it."""
    from cimconv.pipeline import convert
    from cimsdk.golden import Executor

    path = float_tflite(lambda L: [L.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
                                   L.DepthwiseConv2D(3, padding="same", activation="relu6"),
                                   L.Conv2D(6, 1), L.Flatten(), L.Dense(4)], (10, 8, 1), None, tmp_path)
    rng = np.random.default_rng(8)
    res = quantize_file(path, rng.normal(0, 1, (64, 10, 8, 1)).astype(np.float32), QuantOptions(method="mse"))
    q = tmp_path / "q.tflite"
    q.write_bytes(res.model)
    xs = rng.integers(-128, 128, (20, 10, 8, 1)).astype(np.int8)
    for target in ("nor-acim", "sram-dcim"):
        conv = convert(q, target)
        np.testing.assert_array_equal(Executor(conv.image_bytes).run(xs), tflm_run(res.model, xs))


def test_float_io_and_16x8(tmp_path):
    path = float_tflite(lambda L: [L.Conv2D(4, 3, activation="relu"), L.Flatten(), L.Dense(3)], (5, 5, 2),
                        None, tmp_path)
    x = np.random.default_rng(9).normal(0, 1, (32, 5, 5, 2)).astype(np.float32)
    res = quantize_file(path, x, QuantOptions(io="float"))
    g = parse_model(res.model)
    assert g.tensors[g.inputs[0]].dtype == "float32" and g.operators[0].opcode == "QUANTIZE"
    assert g.tensors[g.outputs[0]].dtype == "float32" and g.operators[-1].opcode == "DEQUANTIZE"
    res16 = quantize_file(path, x, QuantOptions(activations="int16"))
    g16 = parse_model(res16.model)
    t_in = g16.tensors[g16.inputs[0]]
    assert t_in.dtype == "int16" and t_in.quant.zp == 0
    assert t_in.quant.s == pytest.approx(float(np.abs(x).max()) / 32767, rel=1e-6)
    conv = next(op for op in g16.operators if op.opcode == "CONV_2D")
    assert g16.tensors[conv.inputs[1]].dtype == "int8" and g16.tensors[conv.inputs[2]].dtype == "int64"
    xq = np.clip(np.round(x[:3] / t_in.quant.s), -32768, 32767).astype(np.int16)
    assert tflm_run(res16.model, xq).shape == (3, 3)
