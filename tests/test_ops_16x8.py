"""16x8 ops (int16 activations, int8 weights) against TFLM, and the firmware runtime against the golden model.

Per op: random one-op cases built with TensorFlow in TFLite's 16x8 mode (tests/optests16.py): random shapes,
kernels, strides, dilations, paddings, depth multipliers, weight scales over decades, biases and fused
activations; 40 cases per op in the default run and 600 more in the slow run (at least 95 % of them checked),
each converted for both targets in turn, compared
with TFLM on random int16 inputs (extremes included), and run by the firmware runtime built natively. A case
whose scales TFLM cannot take (a layer whose output is always 0 gets a degenerate scale: a RELU6 bound beyond
int32, a rescaling shift outside the 16x8 range) is refused by the converter, and must be refused by TFLM's
Prepare too (or have a degenerate output scale, where TFLM's arithmetic is undefined).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from optests import OpCase, run_tflm
from optests16 import build16, check_submodel, cut, random_int16
from paths import TARGETS

from cimconv.errors import ModelError
from cimconv.pipeline import convert
from cimconv.reader import parse_model
from cimsdk.golden import Executor

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tflite_micro")

PER_MODEL = 40  # cases in one TensorFlow-built model (cut into sub-models of 8)
ACTS = [tf.identity, tf.identity, tf.nn.relu, tf.nn.relu6]


def _range(rng: np.random.Generator) -> tuple[float, float]:
    """A calibration range over decades (16x8 activations are symmetric: the scale is what it sets), zero well
    inside it (so a RELU after the op keeps a range)."""
    w = float(np.exp(rng.uniform(np.log(1e-2), np.log(50.0))))
    lo = -w * float(rng.uniform(0.3, 0.7))
    return lo, lo + w


def _weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.normal(size=shape) * 10 ** rng.uniform(-2, 1)).astype(np.float32)


def _bias(rng: np.random.Generator, n: int, w: np.ndarray, r: tuple[float, float], act) -> np.ndarray:
    """A bias of the size of the sums, positive under a RELU (so the RELU keeps a range: a layer whose output is
    always 0 gets a degenerate scale, which TFLM's Prepare refuses or aborts on, and the converter refuses)."""
    typical = float(np.abs(w).mean()) * max(abs(r[0]), abs(r[1])) * np.sqrt(w.size / n)
    b = rng.normal(size=n) * typical * 0.5
    return (np.abs(b) if act is not tf.identity else b).astype(np.float32)


def _window(rng: np.random.Generator) -> tuple[int, int, int, int, str, int, int, int]:
    """(H, W, kh, kw, padding, stride, dilation_h, dilation_w) with a non-empty output."""
    while True:
        h, w = (int(v) for v in rng.integers(1, 10, 2))
        kh, kw = (int(v) for v in rng.integers(1, 5, 2))
        stride = int(rng.choice([1, 1, 2, 3]))
        dil = (1, 1) if stride > 1 or rng.random() < 0.6 else tuple(int(v) for v in rng.integers(1, 3, 2))
        pad = "SAME" if rng.random() < 0.5 else "VALID"
        if pad == "SAME" or (h >= (kh - 1) * dil[0] + 1 and w >= (kw - 1) * dil[1] + 1):
            return h, w, kh, kw, pad, stride, dil[0], dil[1]


def gen_conv(rng: np.random.Generator) -> OpCase:
    h, w, kh, kw, pad, stride, dh, dw = _window(rng)
    cin, cout = (int(v) for v in rng.integers(1, 7, 2))
    filt = _weights(rng, (kh, kw, cin, cout))
    r = _range(rng)
    act = ACTS[int(rng.integers(len(ACTS)))]
    bias = _bias(rng, cout, filt, r, act)
    return OpCase(lambda x, f=filt, b=bias, a=act: a(tf.nn.conv2d(x, f, stride, pad, dilations=[dh, dw]) + b),
                  [(1, h, w, cin)], [r])


def gen_depthwise(rng: np.random.Generator) -> OpCase:
    h, w, kh, kw, pad, stride, dh, dw = _window(rng)
    cin, mult = int(rng.integers(1, 7)), int(rng.integers(1, 4))
    filt = _weights(rng, (kh, kw, cin, mult))
    r = _range(rng)
    act = ACTS[int(rng.integers(len(ACTS)))]
    bias = _bias(rng, cin * mult, filt, r, act)
    return OpCase(lambda x, f=filt, b=bias, a=act: a(
        tf.nn.depthwise_conv2d(x, f, [1, stride, stride, 1], pad, dilations=[dh, dw]) + b),
        [(1, h, w, cin)], [r])


def gen_fully_connected(rng: np.random.Generator) -> OpCase:
    """[1, K] or [1, rows, K] inputs (several rows per sample), with or without a bias."""
    k, n = int(rng.integers(2, 41)), int(rng.integers(1, 21))  # K = 1: TensorFlow writes a MUL
    shape = (1, k) if rng.random() < 0.6 else (1, int(rng.integers(2, 5)), k)
    wt = _weights(rng, (k, n))
    r = _range(rng)
    act = ACTS[int(rng.integers(len(ACTS)))]
    bias = _bias(rng, n, wt, r, act) if rng.random() < 0.7 or act is not tf.identity else None

    def fc(x, wt=wt, b=bias, a=act):
        y = tf.matmul(x, wt) if len(x.shape) == 2 else tf.einsum("bik,kn->bin", x, wt)
        return a(y if b is None else y + b)

    return OpCase(fc, [shape], [r])


def _bcast_pair(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two broadcast-compatible shapes of rank 2-4, dimension 0 = 1, that make the larger of the two."""
    rank = int(rng.integers(2, 5))
    out = (1, *(int(d) for d in rng.integers(1, 7, rank - 1)))
    a = tuple(d if rng.random() < 0.7 else 1 for d in out)
    b = tuple(d if rng.random() < 0.5 else 1 for d in out)
    a = tuple(o if x != o and y != o else x for x, y, o in zip(a, b, out, strict=True))
    return a, b


def gen_add(rng: np.random.Generator) -> OpCase:
    """Two activations (broadcast), or an activation and a constant, each over its own range; sometimes a
    fused RELU/RELU6."""
    a, b = _bcast_pair(rng)
    act = ACTS[int(rng.integers(len(ACTS)))]
    if rng.random() < 0.3:  # the constant within the input's range: a RELU after the sum keeps a range
        lo, hi = r = _range(rng)
        const = rng.uniform(lo / 2, hi / 2, b).astype(np.float32)
        return OpCase(lambda x, c=const, f=act: f(x + c), [a], [r])
    return OpCase(lambda x, y, f=act: f(x + y), [a, b], [_range(rng), _range(rng)])


def gen_pad(rng: np.random.Generator) -> OpCase:
    """2-4-D, constant paddings (0-3 before and after) on every dimension but the batch."""
    rank = int(rng.integers(2, 5))
    shape = (1, *(int(d) for d in rng.integers(1, 7, rank - 1)))
    pads = [[0, 0]] + [[int(v) for v in rng.integers(0, 4, 2)] for _ in range(rank - 1)]
    if not any(v for p in pads for v in p):
        pads[-1][1] = 1
    return OpCase(lambda x, p=pads: tf.pad(x, p), [shape], [_range(rng)])


def gen_mul(rng: np.random.Generator) -> OpCase:
    """Two activations (broadcast), or an activation and a constant; sometimes a fused RELU/RELU6."""
    a, b = _bcast_pair(rng)
    act = ACTS[int(rng.integers(len(ACTS)))]
    if rng.random() < 0.3:
        lo, hi = _range(rng)
        const = rng.uniform(lo, hi, b).astype(np.float32)
        return OpCase(lambda x, c=const, f=act: f(x * c), [a], [_range(rng)])
    return OpCase(lambda x, y, f=act: f(x * y), [a, b], [_range(rng), _range(rng)])


def gen_concatenation(rng: np.random.Generator) -> OpCase:
    """2-4 inputs of one range (TFLite then writes no requantization) joined along an axis after the batch."""
    rank = int(rng.integers(2, 5))
    base = [1, *(int(d) for d in rng.integers(1, 6, rank - 1))]
    axis = int(rng.integers(1, rank))
    n = int(rng.integers(2, 5))
    shapes = []
    for _ in range(n):
        s = list(base)
        s[axis] = int(rng.integers(1, 5))
        shapes.append(tuple(s))
    r = _range(rng)
    named = axis - rank if rng.random() < 0.3 else axis
    return OpCase(lambda *xs, a=named: tf.concat(xs, axis=a), shapes, [r] * n)


def gen_pool(tf_pool: Callable) -> Callable[[np.random.Generator], OpCase]:
    """4-D, a random window, stride and padding (a non-empty output), pooled by `tf_pool`."""
    def make(rng: np.random.Generator) -> OpCase:
        while True:
            h, w, c = (int(v) for v in rng.integers(1, 9, 3))
            fh, fw = (int(v) for v in rng.integers(1, 4, 2))
            sh, sw = (int(v) for v in rng.integers(1, 4, 2))
            pad = "SAME" if rng.random() < 0.5 else "VALID"
            if pad == "SAME" or (h >= fh and w >= fw):
                break
        return OpCase(lambda x, k=(fh, fw), s=(sh, sw), p=pad: tf_pool(x, k, s, p), [(1, h, w, c)], [_range(rng)])
    return make


def gen_reshape(rng: np.random.Generator) -> OpCase:
    """2-4-D to another 2-4-D shape of the same size, dimension 0 kept (1)."""
    rank = int(rng.integers(2, 5))
    shape = (1, *(int(d) for d in rng.integers(1, 7, rank - 1)))
    size = int(np.prod(shape))
    while True:
        out_rank = int(rng.integers(2, 5))
        dims = [int(rng.integers(1, 7)) for _ in range(out_rank - 2)]
        if size % max(1, int(np.prod(dims))) == 0:
            new = (1, *dims, size // max(1, int(np.prod(dims))))
            if new != shape:
                return OpCase(lambda x, z=new: tf.reshape(x, z) * 1.0, [shape], [_range(rng)])
        if size == 1:
            return OpCase(lambda x: tf.reshape(x, (1,) * (5 - rank)), [shape], [_range(rng)])


def gen_strided_slice(rng: np.random.Generator) -> OpCase:
    """2-4-D, per axis after the batch a random start, end and positive or negative stride (never the whole
    input: TensorFlow drops an identity slice)."""
    while True:
        rank = int(rng.integers(2, 5))
        shape = (1, *(int(d) for d in rng.integers(1, 8, rank - 1)))
        begin, end, strides = [0], [1], [1]
        for d in shape[1:]:
            s = int(rng.choice([1, 1, 2, 3, -1, -2]))
            b = int(rng.integers(0, d))
            e = int(rng.integers(b, d + 1)) if s > 0 else int(rng.integers(-1, b + 1))
            begin.append(b)
            end.append(e if s > 0 or e >= 0 else -d - 1)
            strides.append(s)
        y = tf.strided_slice(np.zeros(shape, np.float32), begin, end, strides)
        # (with every stride 1 TensorFlow writes a SLICE, the case below)
        if 0 < int(tf.size(y)) and tuple(y.shape) != shape and any(st != 1 for st in strides):
            return OpCase(lambda x, a=(begin, end, strides): tf.strided_slice(x, *a), [shape], [_range(rng)])


def gen_slice(rng: np.random.Generator) -> OpCase:
    """A random box of a 2-4-D input (the batch whole), never the whole input."""
    while True:
        rank = int(rng.integers(2, 5))
        shape = (1, *(int(d) for d in rng.integers(1, 8, rank - 1)))
        begin, size = [0], [1]
        for d in shape[1:]:
            b = int(rng.integers(0, d))
            begin.append(b)
            size.append(int(rng.integers(1, d - b + 1)))
        if tuple(size) != shape:
            return OpCase(lambda x, b=begin, z=size: tf.slice(x, b, z), [shape], [_range(rng)])


def gen_split(rng: np.random.Generator) -> OpCase:
    """2-4-D, an axis after the batch cut into 2-4 equal pieces (one STRIDED_SLICE record per piece)."""
    rank = int(rng.integers(2, 5))
    shape = [1, *(int(d) for d in rng.integers(1, 5, rank - 1))]
    axis = int(rng.integers(1, rank))
    n = int(rng.integers(2, 5))
    shape[axis] = n * int(rng.integers(1, 3))
    return OpCase(lambda x, k=n, a=axis: tf.split(x, k, axis=a), [tuple(shape)], [_range(rng)])


def gen_unary(tf_op: Callable) -> Callable[[np.random.Generator], OpCase]:
    """A one-input op on a random 2-4-D shape; the input range over decades (saturating and fine inputs)."""
    def make(rng: np.random.Generator) -> OpCase:
        rank = int(rng.integers(2, 5))
        shape = (1, *(int(d) for d in rng.integers(1, 7, rank - 1)))
        w = float(np.exp(rng.uniform(np.log(1e-2), np.log(20.0))))
        return OpCase(tf_op, [shape], [(-w * float(rng.uniform(0.3, 0.7)), w)])
    return make


def gen_sub(rng: np.random.Generator) -> OpCase:
    """Two activations (broadcast), or an activation minus a constant; sometimes a fused RELU/RELU6."""
    a, b = _bcast_pair(rng)
    act = ACTS[int(rng.integers(len(ACTS)))]
    if rng.random() < 0.3:
        lo, hi = r = _range(rng)
        const = rng.uniform(lo / 2, hi / 2, b).astype(np.float32)
        return OpCase(lambda x, c=const, f=act: f(x - c), [a], [r])
    return OpCase(lambda x, y, f=act: f(x - y), [a, b], [_range(rng), _range(rng)])


def _rank_shape(rng: np.random.Generator, lo: int = 2, top: int = 7) -> tuple[int, ...]:
    """A 2-4-D shape, dimension 0 = 1."""
    rank = int(rng.integers(lo, 5))
    return (1, *(int(d) for d in rng.integers(1, top, rank - 1)))


def gen_transpose(rng: np.random.Generator) -> OpCase:
    """A 3-4-D input, a random permutation of the axes after the batch that reorders axes longer than 1 (TensorFlow
    writes any other as a RESHAPE)."""
    while True:
        shape = _rank_shape(rng, 3)
        perm = [0, *(int(p) for p in rng.permutation(range(1, len(shape))))]
        if [a for a in perm if shape[a] > 1] != [a for a in range(len(shape)) if shape[a] > 1]:
            return OpCase(lambda x, p=perm: tf.transpose(x, p), [shape], [_range(rng)])


def gen_pack(rng: np.random.Generator) -> OpCase:
    """2-4 inputs of one shape and range stacked along an axis after the batch."""
    shape = _rank_shape(rng, 2, 6)[:3]
    n = int(rng.integers(2, 5))
    axis = int(rng.integers(1, len(shape) + 1))
    return OpCase(lambda *xs, a=axis: tf.stack(xs, axis=a), [shape] * n, [_range(rng)] * n)


def gen_minmax(tf_op: Callable) -> Callable[[np.random.Generator], OpCase]:
    """Two activations (broadcast) of one range, or an activation and a constant (TFLite gives the inputs and the
    output one scale)."""
    def make(rng: np.random.Generator) -> OpCase:
        a, b = _bcast_pair(rng)
        lo, hi = r = _range(rng)
        if rng.random() < 0.3:
            const = rng.uniform(lo, hi, b).astype(np.float32)
            return OpCase(lambda x, c=const: tf_op(x, c), [a], [r])
        return OpCase(lambda x, y: tf_op(x, y), [a, b], [r, r])
    return make


def gen_leaky_relu(rng: np.random.Generator) -> OpCase:
    alpha = float(rng.uniform(0.01, 0.9))
    return gen_unary(lambda x, a=alpha: tf.nn.leaky_relu(x, a))(rng)


def gen_relu6(rng: np.random.Generator) -> OpCase:
    """The input range sometimes beyond 6 (the clamp bites), sometimes below it."""
    rank = int(rng.integers(2, 5))
    shape = (1, *(int(d) for d in rng.integers(1, 7, rank - 1)))
    w = float(np.exp(rng.uniform(np.log(0.5), np.log(30.0))))
    return OpCase(tf.nn.relu6, [shape], [(-w * float(rng.uniform(0.3, 0.7)), w)])


def gen_resize_nearest(rng: np.random.Generator) -> OpCase:
    """A 4-D image resized to a random size, with align_corners or half_pixel_centers or neither."""
    h, w, c = (int(v) for v in rng.integers(1, 7, 3))
    oh, ow = (int(v) for v in rng.integers(1, 13, 2))
    align, half = [(False, False), (True, False), (False, True)][int(rng.integers(3))]
    return OpCase(lambda x, s=(oh, ow), a=align, hp=half: tf.compat.v1.image.resize_nearest_neighbor(
        x, s, align_corners=a, half_pixel_centers=hp), [(1, h, w, c)], [_range(rng)])


def gen_mean(rng: np.random.Generator) -> OpCase:
    """A 2-4-D input averaged over a random set of the axes after the batch, one of them longer than 1 (TensorFlow
    drops a mean over ones), keep_dims or not."""
    while True:
        shape = _rank_shape(rng, 2, 8)
        axes = [a for a in range(1, len(shape)) if rng.random() < 0.6]
        if any(shape[a] > 1 for a in axes):
            break
    keep = bool(rng.random() < 0.5)
    return OpCase(lambda x, a=axes, k=keep: tf.reduce_mean(x, axis=a, keepdims=k), [shape], [_range(rng)])


def gen_batch_matmul(rng: np.random.Generator) -> OpCase:
    """Two activations of rank 3 or 4 (batch dimensions broadcast), either one read transposed."""
    m, k, n = (int(v) for v in rng.integers(1, 9, 3))
    k = max(k, 2)
    adj_a, adj_b = bool(rng.random() < 0.3), bool(rng.random() < 0.3)
    lead = (1,) if rng.random() < 0.6 else (1, int(rng.integers(2, 4)))
    b_lead = lead if rng.random() < 0.7 else (1,) * len(lead)
    sa = (*lead, k, m) if adj_a else (*lead, m, k)
    sb = (*b_lead, n, k) if adj_b else (*b_lead, k, n)
    return OpCase(lambda x, y, ta=adj_a, tb=adj_b: tf.matmul(x, y, adjoint_a=ta, adjoint_b=tb), [sa, sb],
                  [_range(rng), _range(rng)])


GENERATORS: dict[str, Callable[[np.random.Generator], OpCase]] = {
    "CONV_2D": gen_conv,
    "DEPTHWISE_CONV_2D": gen_depthwise,
    "FULLY_CONNECTED": gen_fully_connected,
    "ADD": gen_add,
    "PAD": gen_pad,
    "MUL": gen_mul,
    "CONCATENATION": gen_concatenation,
    "MAX_POOL_2D": gen_pool(tf.nn.max_pool2d),
    "LOGISTIC": gen_unary(tf.math.sigmoid),
    "TANH": gen_unary(tf.math.tanh),
    "RESHAPE": gen_reshape,
    "STRIDED_SLICE": gen_strided_slice,
    "SLICE": gen_slice,
    "SPLIT": gen_split,
    "SUB": gen_sub,
    "TRANSPOSE": gen_transpose,
    "PACK": gen_pack,
    "MAXIMUM": gen_minmax(tf.maximum),
    "MINIMUM": gen_minmax(tf.minimum),
    "RELU": gen_unary(tf.nn.relu),
    "RELU6": gen_relu6,
    "LEAKY_RELU": gen_leaky_relu,
    "RESIZE_NEAREST_NEIGHBOR": gen_resize_nearest,
    "AVERAGE_POOL_2D": gen_pool(tf.nn.avg_pool2d),
    "MEAN": gen_mean,
    "SOFTMAX": gen_unary(tf.nn.softmax),
    "BATCH_MATMUL": gen_batch_matmul,
}
RECORDS = {"SPLIT": "STRIDED_SLICE"}  # an op that runs as another op's records: the records counted
DEFAULT_MODELS = 1  # 40 cases per op in the default run, 600 more in the slow run: TensorFlow's 16x8 calibration
SLOW_MODELS = 15  # takes most of a case's time, and 200 per op for 25 ops would be ten minutes of the default run


@pytest.fixture(scope="module")
def host_runtime(tmp_path_factory):
    from test_runtime_host import rb  # tests/c/runtime_build.py, loaded once
    if not rb.have_gcc():
        pytest.skip("needs gcc")
    return rb, rb.build_host(tmp_path_factory.mktemp("ops16_rt"))


def _run(opcode: str, model_index: int, host_runtime, tmp: Path) -> int:
    seed = 7000 + 1000 * model_index + sum(map(ord, opcode))
    rng = np.random.default_rng(seed)
    model = build16([GENERATORS[opcode](rng) for _ in range(PER_MODEL)], seed)
    (tmp / f"{opcode.lower()}_{model_index}.tflite").write_bytes(model)  # left for a failing case's reader
    checked = 0
    for i, sub in enumerate(cut(model)):
        target = TARGETS[i % len(TARGETS)]
        try:
            checked += check_submodel(sub, RECORDS.get(opcode, opcode), target, host_runtime, tmp, seed=seed + i)
        except ModelError:  # one case the converter refuses: TFLM must refuse it too; the others one by one
            for j, one in enumerate(cut(sub, 1)):
                try:
                    checked += check_submodel(one, RECORDS.get(opcode, opcode), target, host_runtime, tmp,
                                              seed=seed + i + j)
                except ModelError as exc:
                    assert "quantization" in str(exc), exc  # refused for its scales, not for its op or shape
                    _refused_by_tflm_or_degenerate(one)
    return checked


def _refused_by_tflm_or_degenerate(one: bytes) -> None:
    """A case the converter refused for its scales: TFLM's Prepare refuses it too (a RELU6 bound overflows
    int32), or its output scale is degenerate (a layer whose calibrated output was always 0), where TFLM's
    64-bit requantization shifts by a negative count (undefined in C++) and no defined result exists to match."""
    g = parse_model(one)
    if g.tensors[g.outputs[0]].quant.s < 1e-30:
        return
    with pytest.raises(RuntimeError):
        run_tflm(one, [random_int16(g.tensors[k].shape, 3, np.random.default_rng(0)) for k in g.inputs])


@pytest.mark.parametrize("opcode", list(GENERATORS))
def test_16x8_op_matches_tflm_and_c_runtime(opcode: str, host_runtime, tmp_path: Path) -> None:
    checked = sum(_run(opcode, i, host_runtime, tmp_path) for i in range(DEFAULT_MODELS))
    assert checked >= 0.8 * PER_MODEL * DEFAULT_MODELS, f"{opcode}: only {checked} cases"


@pytest.mark.slow
@pytest.mark.parametrize("opcode", list(GENERATORS))
def test_16x8_op_matches_tflm_and_c_runtime_many(opcode: str, host_runtime, tmp_path: Path) -> None:
    checked = sum(_run(opcode, i, host_runtime, tmp_path) for i in range(DEFAULT_MODELS, DEFAULT_MODELS + SLOW_MODELS))
    assert checked >= 0.95 * PER_MODEL * SLOW_MODELS  # the rest refused as TFLM refuses them (degenerate scales)


def _every_op_model() -> bytes:
    """One 16x8 model through every op above: CONV_2D, DEPTHWISE_CONV_2D, ADD, PAD, MAX_POOL_2D, LOGISTIC, TANH,
    MUL, CONCATENATION, AVERAGE_POOL_2D, MAXIMUM, MINIMUM, SUB, LEAKY_RELU, TRANSPOSE, RELU, RESIZE_NEAREST_NEIGHBOR,
    MEAN, RELU6, PACK, BATCH_MATMUL, RESHAPE, FULLY_CONNECTED, SOFTMAX."""
    rng = np.random.default_rng(3)
    w1 = (rng.normal(size=(3, 3, 3, 8)) * 0.3).astype(np.float32)
    w2 = (rng.normal(size=(3, 3, 8, 1)) * 0.3).astype(np.float32)
    wf = (rng.normal(size=(5 * 5 * 16 + 2 * 16 + 16, 10)) * 0.1).astype(np.float32)

    def net(x):
        a = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME") + 0.1)
        b = tf.nn.depthwise_conv2d(a, w2, [1, 1, 1, 1], "SAME")
        c = tf.pad(a + b, [[0, 0], [1, 1], [1, 1], [0, 0]])
        d = tf.nn.max_pool2d(c, 3, 2, "VALID")
        e = tf.concat([tf.math.sigmoid(d) * d, tf.math.tanh(d)], axis=3)
        f = tf.nn.avg_pool2d(e, 2, 1, "SAME")
        g = tf.nn.leaky_relu(tf.maximum(f, e) - tf.minimum(f, e), 0.1)
        h = tf.compat.v1.image.resize_nearest_neighbor(tf.nn.relu(tf.transpose(g, [0, 2, 1, 3])), (7, 7))
        m = tf.reduce_mean(h, axis=[1, 2])
        p = tf.stack([m, tf.nn.relu6(m)], axis=1)
        q = tf.matmul(tf.reshape(m, (1, 4, 4)), tf.reshape(p[:, 1], (1, 4, 4)))
        flat = [tf.reshape(t, (1, -1)) for t in (e, p, q)]
        return tf.nn.softmax(tf.matmul(tf.concat(flat, axis=1), wf))

    return build16([OpCase(net, [(1, 9, 9, 3)], [(-2.0, 2.0)])], 3)


def _float_edged_model() -> bytes:
    """A 16x8 keyword-spotting-shaped model with float32 input and output (TensorFlow's default export)."""
    rng = np.random.default_rng(5)
    w1 = (rng.normal(size=(3, 3, 1, 8)) * 0.4).astype(np.float32)
    w2 = (rng.normal(size=(3, 3, 8, 1)) * 0.4).astype(np.float32)
    wf = (rng.normal(size=(8, 6)) * 0.3).astype(np.float32)

    def net(x):
        a = tf.nn.relu(tf.nn.conv2d(x, w1, 2, "SAME") + 0.05)
        b = tf.nn.relu6(tf.nn.depthwise_conv2d(a, w2, [1, 1, 1, 1], "SAME"))
        return tf.nn.softmax(tf.matmul(tf.reduce_mean(b, axis=[1, 2]), wf))

    return build16([OpCase(net, [(1, 10, 8, 1)], [(-3.0, 3.0)])], 5, edges="float32")


def test_16x8_float_edged_model_equals_tflm_on_the_host(tmp_path: Path) -> None:
    """Float in, float out: the edges' QUANTIZE (float -> int16) and DEQUANTIZE run on the host; 100 random floats
    over (and a little beyond) the input range, both targets, every output bit equal to TFLM's."""
    from cimsdk.golden.edges import model_outputs, program_inputs, random_inputs

    model = _float_edged_model()
    path = tmp_path / "float16.tflite"
    path.write_bytes(model)
    for target in TARGETS:
        conv = convert(path, target)
        img = conv.image
        assert img.tensors[img.inputs[0].tensor].dtype == "int16" and img.inputs[0].edge_dtype == "float32"
        xs = random_inputs(img, 100, np.random.default_rng(9))
        ours = model_outputs(img, Executor(conv.image_bytes).run_all(program_inputs(img, xs)))[0]
        theirs = run_tflm(model, xs)[0].reshape(ours.shape)
        assert ours.dtype == np.float32 and np.array_equal(ours, theirs), target


@pytest.mark.qemu
def test_16x8_float_edged_model_through_device_run(tmp_path: Path) -> None:
    """`cimsdk device run --image` with a .npy of floats on a float-edged 16x8 model: the outputs it writes are
    TFLM's floats, every bit."""
    import shutil

    if shutil.which("qemu-system-riscv32") is None:
        pytest.skip("needs qemu-system-riscv32")
    from click.testing import CliRunner

    from cimsdk.build import build_firmware
    from cimsdk.cli import cli
    from cimsdk.emulator import EmulatedBoard
    from cimsdk.golden.edges import random_inputs

    model = _float_edged_model()
    path = tmp_path / "float16.tflite"
    path.write_bytes(model)
    conv = convert(path, "nor-acim")
    image = tmp_path / "model.cimg"
    image.write_bytes(conv.image_bytes)
    xs = random_inputs(conv.image, 6, np.random.default_rng(4))
    np.save(tmp_path / "x.npy", xs[0])
    elf = build_firmware(tmp_path / "fw", "qemu-virt-rv32", "mailbox", quiet=True)
    with EmulatedBoard(firmware=elf, backend="mailbox", wait_for_client=False) as board:
        res = CliRunner().invoke(cli, ["device", "run", "--port", board.url, "--image", str(image), "-i",
                                       str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")], standalone_mode=False)
        assert res.exit_code == 0, res.output
    ours = np.load(tmp_path / "y.npy")
    theirs = run_tflm(model, xs)[0].reshape(ours.shape)
    assert ours.dtype == np.float32 and np.array_equal(ours, theirs)


@pytest.mark.qemu
@pytest.mark.parametrize("backend", ["soft", "mailbox"])
def test_16x8_model_of_every_op_on_the_emulated_board(backend: str, tmp_path: Path) -> None:
    """The firmware's int16 kernels on the board (C soft CiM backend or the emulated coprocessor), both targets:
    every element equal to TFLM."""
    import shutil

    if shutil.which("qemu-system-riscv32") is None:
        pytest.skip("needs qemu-system-riscv32")
    from cimsdk.build import build_firmware
    from cimsdk.device import Device, ensure_image
    from cimsdk.emulator import EmulatedBoard

    path = tmp_path / "every16.tflite"
    path.write_bytes(_every_op_model())
    elf = build_firmware(tmp_path / f"fw-{backend}", "qemu-virt-rv32", backend, quiet=True)
    with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board, \
            Device(board.url, timeout=10.0) as dev:
        for target in TARGETS:
            conv = convert(path, target)
            img = conv.image
            ops = {op.opcode for op in img.ops}
            # (the converter drops a RESHAPE that only flattens into a FULLY_CONNECTED: it may be gone)
            assert {RECORDS.get(g, g) for g in GENERATORS} - {"SLICE", "STRIDED_SLICE", "RESHAPE"} <= ops, ops
            x_rec, y_rec = img.tensors[img.input_tensor], img.tensors[img.output_tensor]
            xs = random_int16(x_rec.shape, 6, np.random.default_rng(8))
            ensure_image(dev, conv.image_bytes, show_progress=False)
            device = np.stack([np.frombuffer(dev.run(x.tobytes(), y_rec.nbytes, timeout=300.0)[0], np.int16)
                               for x in xs]).reshape((len(xs), *y_rec.shape[1:]))
            theirs = run_tflm(path.read_bytes(), [xs])[0]
            bad = int((device != theirs).sum())
            assert bad == 0, f"{target} on the {backend} backend: {bad} of {device.size} elements differ from TFLM"
