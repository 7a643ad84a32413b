"""CPU kernels (host golden model) against the TFLM interpreter, element by element.

Each case is a small int8 model built with TensorFlow (TFLiteConverter, representative dataset, int8 in
and out) around one op. The model is read with cimconv.reader, every op is lowered with its
cimconv.lowering module, records are built by hand and the host kernels run the whole batch at once;
TFLM runs the same inputs one by one. Expected values come only from TFLM.
"""

from __future__ import annotations

import importlib
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from cimconv.image import STORE_ARENA, STORE_CONST, OpRec, TensorRec
from cimconv.ir import Graph
from cimconv.opspec import OPS
from cimconv.reader import parse_model

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

tf = pytest.importorskip("tensorflow")
runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")


@dataclass
class Case:
    name: str
    fn: Callable
    shapes: list[tuple[int, ...]]
    amps: list[float] = field(default_factory=list)  # representative-data amplitude per input
    expect_ops: tuple[str, ...] = ()  # ops the model must contain (so a case cannot silently test nothing)
    slow: bool = False


def _c(seed: int, shape: tuple[int, ...], lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(np.float32)


CASES: list[Case] = [
    # SOFTMAX: input scale set by the calibration amplitude; rows of several lengths and ranks
    Case("softmax_12", lambda x: tf.nn.softmax(x), [(1, 12)], [4.0], ("SOFTMAX",)),
    Case("softmax_wide_range", lambda x: tf.nn.softmax(x), [(1, 10)], [40.0], ("SOFTMAX",)),
    Case("softmax_narrow_range", lambda x: tf.nn.softmax(x), [(1, 7)], [0.3], ("SOFTMAX",)),
    Case("softmax_3d", lambda x: tf.nn.softmax(x), [(1, 5, 9)], [8.0], ("SOFTMAX",)),
    Case("softmax_4d_long", lambda x: tf.nn.softmax(x), [(1, 2, 3, 100)], [6.0], ("SOFTMAX",)),
    # AVERAGE_POOL_2D: KWS's global pool, SAME with partial windows, strides, fused RELU
    Case("avgpool_kws_global", lambda x: tf.nn.avg_pool2d(x, (25, 5), 1, "VALID"), [(1, 25, 5, 64)], [3.0],
         ("AVERAGE_POOL_2D",)),
    Case("avgpool_same_s2", lambda x: tf.nn.avg_pool2d(x, 3, 2, "SAME"), [(1, 9, 8, 5)], [3.0],
         ("AVERAGE_POOL_2D",)),
    Case("avgpool_same_rect", lambda x: tf.nn.avg_pool2d(x, (2, 4), (1, 3), "SAME"), [(1, 7, 10, 3)], [1.0],
         ("AVERAGE_POOL_2D",)),
    Case("avgpool_valid_relu", lambda x: tf.nn.relu(tf.nn.avg_pool2d(x, 2, 2, "VALID")), [(1, 8, 6, 4)],
         [2.0], ("AVERAGE_POOL_2D",)),
    # MAX_POOL_2D
    Case("maxpool_valid", lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"), [(1, 8, 8, 6)], [3.0],
         ("MAX_POOL_2D",)),
    Case("maxpool_same_3x3_s2", lambda x: tf.nn.max_pool2d(x, 3, 2, "SAME"), [(1, 7, 9, 4)], [3.0],
         ("MAX_POOL_2D",)),
    Case("maxpool_relu6", lambda x: tf.nn.relu6(tf.nn.max_pool2d(x, (3, 1), (1, 1), "SAME")),
         [(1, 6, 5, 3)], [9.0], ("MAX_POOL_2D",)),
    # ADD: same shapes with different scales, broadcasting, constants, fused activation
    Case("add_same", lambda a, b: a + b, [(1, 4, 5, 3), (1, 4, 5, 3)], [1.0, 7.0], ("ADD",)),
    Case("add_broadcast", lambda a, b: a + b, [(1, 4, 5, 3), (1, 1, 5, 1)], [2.0, 0.5], ("ADD",)),
    Case("add_broadcast_rank", lambda a, b: a + b, [(1, 3, 6), (1, 6)], [2.0, 3.0], ("ADD",)),
    Case("add_const_relu", lambda a: tf.nn.relu(a + _c(1, (1, 1, 1, 8))), [(1, 3, 2, 8)], [3.0], ("ADD",)),
    Case("add_2d", lambda a, b: a + b, [(1, 40), (1, 40)], [5.0, 5.0], ("ADD",)),
    # MUL
    Case("mul_same", lambda a, b: a * b, [(1, 4, 5, 3), (1, 4, 5, 3)], [1.0, 3.0], ("MUL",)),
    Case("mul_broadcast", lambda a, b: a * b, [(1, 4, 5, 6), (1, 1, 1, 6)], [2.0, 1.0], ("MUL",)),
    Case("mul_const", lambda a: a * _c(2, (1, 7), 0.1, 3.0), [(1, 7)], [4.0], ("MUL",)),
    Case("mul_relu6", lambda a, b: tf.nn.relu6(a * b), [(1, 16), (1, 16)], [3.0, 3.0], ("MUL",)),
    # RESHAPE
    Case("reshape_flatten", lambda x: tf.reshape(x, (1, 60)), [(1, 4, 5, 3)], [1.0], ("RESHAPE",)),
    Case("reshape_unflatten", lambda x: tf.reshape(x, (1, 3, 4, 5)), [(1, 60)], [1.0], ("RESHAPE",)),
    # PAD
    Case("pad_4d", lambda x: tf.pad(x, [[0, 0], [1, 2], [0, 3], [0, 0]]), [(1, 4, 5, 3)], [2.0], ("PAD",)),
    Case("pad_channels", lambda x: tf.pad(x, [[0, 0], [2, 0], [1, 1], [3, 2]]), [(1, 3, 3, 2)], [1.0],
         ("PAD",)),
    Case("pad_2d", lambda x: tf.pad(x, [[0, 0], [5, 4]]), [(1, 10)], [1.0], ("PAD",)),
    # CONCATENATION (the quantizer gives all inputs the output's scale, inserting requantizing QUANTIZE)
    Case("concat_channels", lambda a, b: tf.concat([a, b], axis=-1), [(1, 4, 5, 3), (1, 4, 5, 2)],
         [1.0, 1.0], ("CONCATENATION",)),
    Case("concat_axis1_three", lambda a, b, c: tf.concat([a, b, c], axis=1),
         [(1, 2, 6), (1, 3, 6), (1, 1, 6)], [1.0, 1.0, 1.0], ("CONCATENATION",)),
    # MEAN
    Case("mean_hw_keep", lambda x: tf.reduce_mean(x, axis=[1, 2], keepdims=True), [(1, 5, 7, 8)], [2.0],
         ("MEAN",)),
    Case("mean_hw_drop", lambda x: tf.reduce_mean(x, axis=[1, 2]), [(1, 6, 6, 10)], [3.0], ("MEAN",)),
    Case("mean_last", lambda x: tf.reduce_mean(x, axis=-1), [(1, 4, 33)], [2.0], ("MEAN",)),
    Case("mean_axis1_keep", lambda x: tf.reduce_mean(x, axis=1, keepdims=True), [(1, 9, 4, 3)], [2.0],
         ("MEAN",)),
    # LOGISTIC
    Case("logistic_small", lambda x: tf.sigmoid(x), [(1, 64)], [2.0], ("LOGISTIC",)),
    Case("logistic_wide", lambda x: tf.sigmoid(x), [(1, 8, 8)], [12.0], ("LOGISTIC",)),
    Case("logistic_huge", lambda x: tf.sigmoid(x), [(1, 32)], [200.0], ("LOGISTIC",)),
]


def _build(case: Case) -> bytes:
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))  # stable across runs
    specs = [tf.TensorSpec(s, tf.float32) for s in case.shapes]
    f = tf.function(case.fn, input_signature=specs)
    amps = case.amps or [1.0] * len(case.shapes)

    def rep():
        for _ in range(64):
            yield [rng.uniform(-a, a, s).astype(np.float32) for a, s in zip(amps, case.shapes, strict=True)]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> Callable[[Case], bytes]:
    """Build each case's model once per session (cached as files in a tmp dir)."""
    folder = tmp_path_factory.mktemp("kernel_models")

    def get(case: Case) -> bytes:
        path = folder / f"{case.name}.tflite"
        if not path.exists():
            path.write_bytes(_build(case))
        return path.read_bytes()

    return get


def tensor_rec(g: Graph, t: int) -> TensorRec:
    tt = g.tensors[t]
    q = tt.quant
    return TensorRec(tt.dtype, tuple(tt.shape), STORE_CONST if tt.is_const else STORE_ARENA, 0, tt.nbytes,
                     q.zp if q else 0, q.s if q else 0.0)


def lower_to_oprec(g: Graph, op) -> tuple[OpRec, list[int]]:
    """Lower with the op's cimconv.lowering module; returns the record and the kernel's input tensors."""
    mod = importlib.import_module(f"cimconv.lowering.{op.opcode.lower()}")
    params = mod.lower(g, op)
    folded = set(getattr(mod, "PARAM_INPUTS", ()))
    ins = [t for i, t in enumerate(op.inputs) if i not in folded and t >= 0]
    assert set(params) == set(OPS[op.opcode].params), op.opcode
    return OpRec(op.opcode, ins, list(op.outputs), params, False, op.index), ins


def run_host(g: Graph, xs: list[np.ndarray]) -> np.ndarray:
    """Run every op of the graph with the host kernels on batched inputs."""
    from cimsdk.golden.kernels import KERNELS

    values = dict(zip(g.inputs, xs, strict=True))
    for op in g.operators:
        rec, ins = lower_to_oprec(g, op)
        arrays = [g.tensors[t].data if g.tensors[t].is_const else values[t] for t in ins]
        recs = [tensor_rec(g, t) for t in ins]
        out = KERNELS[op.opcode](rec, arrays, recs, tensor_rec(g, op.outputs[0]))
        assert out.dtype == np.int8
        assert out.shape[1:] == tuple(g.tensors[op.outputs[0]].shape[1:]), op.opcode
        values[op.outputs[0]] = out
    return values[g.outputs[0]]


def run_tflm(model: bytes, xs: list[np.ndarray]) -> np.ndarray:
    interp = runtime.Interpreter.from_bytes(model, arena_size=1 << 20)
    outs = []
    for b in range(xs[0].shape[0]):
        for i, x in enumerate(xs):
            interp.set_input(x[b : b + 1], i)
        interp.invoke()
        outs.append(interp.get_output(0).copy())
    return np.concatenate(outs, axis=0)


def random_inputs(g: Graph, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = []
    for t in g.inputs:
        shape = g.tensors[t].shape
        x = rng.integers(-128, 128, size=(n, *shape[1:]), dtype=np.int16)
        # include rows of extremes and constants so saturation and ties are exercised
        x[0] = 127
        x[1] = -128
        x[2] = rng.integers(-128, 128)
        xs.append(x.astype(np.int8))
    return xs


def check(case: Case, model: bytes, n: int) -> None:
    g = parse_model(model, name=case.name)
    opcodes = {op.opcode for op in g.operators}
    for want in case.expect_ops:
        assert want in opcodes, f"{case.name}: model has {sorted(opcodes)}, expected {want}"
    for t in g.inputs + g.outputs:
        assert g.tensors[t].dtype == "int8"
    xs = random_inputs(g, n, seed=len(case.name))
    want = run_tflm(model, xs)
    got = run_host(g, xs)
    assert got.shape == want.shape
    bad = np.argwhere(got != want)
    assert bad.size == 0, (f"{case.name}: {len(bad)} of {want.size} elements differ from TFLM, first at "
                           f"{bad[0].tolist()}: host {got[tuple(bad[0])]} TFLM {want[tuple(bad[0])]}")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_kernel_matches_tflm(case: Case, models) -> None:
    check(case, models(case), n=40)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_kernel_matches_tflm_many_inputs(case: Case, models) -> None:
    check(case, models(case), n=600)


def test_softmax_every_input_scale_region(models) -> None:
    """Softmax over a sweep of input scales (patched into one model) covers multiplier and radius edges."""
    import tflite

    case = CASES[0]
    base = bytearray(models(case))
    g0 = parse_model(bytes(base))
    sm = next(op for op in g0.operators if op.opcode == "SOFTMAX")
    for scale in (1 / 256, 0.01, 0.05, 0.1733, 0.5, 1.0, 3.0):
        buf = bytearray(base)
        q = tflite.Model.GetRootAsModel(buf, 0).Subgraphs(0).Tensors(sm.inputs[0]).Quantization()
        q.ScaleAsNumpy()[0] = scale  # a view into buf: patches the flatbuffer in place
        check(Case(f"softmax_scale_{scale}", case.fn, case.shapes), bytes(buf), n=40)


def _patch_opcode(model: bytes, old: str, new: str) -> bytes:
    """Rewrite an operator code in place (TensorFlow never emits an int8 -> int8 QUANTIZE on its own)."""
    import struct

    import tflite

    codes = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    buf = bytearray(model)
    m = tflite.Model.GetRootAsModel(buf, 0)
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        if codes.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())) != old:
            continue
        code = getattr(tflite.BuiltinOperator, new)
        for slot, fmt in ((4, "<b"), (10, "<i")):  # deprecated_builtin_code (int8), builtin_code (int32)
            o = oc._tab.Offset(slot)
            if o:
                struct.pack_into(fmt, buf, oc._tab.Pos + o, code)
    return bytes(buf)


@pytest.mark.parametrize("name", ["logistic_small", "logistic_wide", "logistic_huge"])
def test_quantize_int8_requantize_matches_tflm(name: str, models) -> None:
    """int8 -> int8 QUANTIZE (TFLM Requantize) from a LOGISTIC model whose op code is rewritten:
    the tensors keep their different scales and zero points, which is all a requantization needs."""
    case = next(c for c in CASES if c.name == name)
    model = _patch_opcode(models(case), "LOGISTIC", "QUANTIZE")
    check(Case(f"quantize_from_{name}", case.fn, case.shapes, expect_ops=("QUANTIZE",)), model, n=60)
