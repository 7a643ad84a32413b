"""Property tests of CPU ops against TFLM, and of their C kernels against the golden kernels on the same cases.

A batch of random one-op cases (random shapes, axes, broadcast patterns; random scales and zero points set
through the calibration range of each input) is built with TensorFlow as ONE model with many inputs and
outputs, each output computed by one op from its own inputs. The TFLM interpreter runs the model on random
int8 inputs (rows of extremes and constants included); every op of the model is lowered with cimconv's
lowering (`lower_op`, the converter's own path) and run with the golden kernel, and compared with TFLM's
output element by element. The op's C kernel (firmware/kernels/<op>.c, built natively) runs the same
record and inputs and must equal the golden kernel, after its load-time check accepted the record.
Expected values come only from TFLM.
"""

from __future__ import annotations

import ctypes
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ckernels import CPU_KERNEL_SOURCES, shared_library

from cimconv.errors import ModelError
from cimconv.image import DTYPES, STORE_ARENA, STORE_CONST, OpRec, TensorRec
from cimconv.ir import Graph, Operator
from cimconv.lowering import Lowered, lower_ops
from cimconv.opspec import OPS
from cimconv.reader import parse_model

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")



@dataclass
class OpCase:
    """One op of a batch model: `fn(*tf_inputs) -> tf_output` on inputs of `shapes`, each calibrated over
    its (lo, hi) range (which sets the scale and zero point TensorFlow's quantizer picks)."""

    fn: Callable
    shapes: list[tuple[int, ...]]
    ranges: list[tuple[float, float]]
    rewrite: Callable[[bytes], bytes] | None = None  # applied to the batch model (the first case's counts)
    dynamic_batch: bool = False  # dimension 0 left open (TensorFlow keeps some ops only then; the first case's counts)


def rand_range(rng: np.random.Generator, lo_scale: float = 1e-2, hi_scale: float = 50.0, straddle: bool = False
               ) -> tuple[float, float]:
    """A calibration range with a random width over decades and a random offset (so a random zero point);
    `straddle`: zero well inside (so a RELU after the op keeps a range)."""
    width = float(np.exp(rng.uniform(np.log(lo_scale), np.log(hi_scale))))
    lo = -width * float(rng.uniform(0.2, 0.8) if straddle else rng.uniform(0.0, 1.0))
    return lo, lo + width


def build(cases: list[OpCase], seed: int) -> bytes:
    """One int8 TFLite model holding every case (inputs and outputs in case order)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    shapes = [s for c in cases for s in c.shapes]
    ranges = [r for c in cases for r in c.ranges]
    specs = [tf.TensorSpec((None, *s[1:]) if cases[0].dynamic_batch else s, tf.float32) for s in shapes]

    def model(*xs):
        outs, i = [], 0
        for c in cases:
            y = c.fn(*xs[i : i + len(c.shapes)])
            outs += list(y) if isinstance(y, (list, tuple)) else [y]  # a multi-output op's outputs in order
            i += len(c.shapes)
        return outs

    f = tf.function(model, input_signature=specs)

    def rep():
        for k in range(48):
            row = []
            for s, (lo, hi) in zip(shapes, ranges, strict=True):
                x = rng.uniform(lo, hi, s).astype(np.float32)
                if k < 2:  # the calibration range's ends are seen exactly
                    x[...] = lo if k == 0 else hi
                row.append(x)
            yield row

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    model = conv.convert()
    return cases[0].rewrite(model) if cases[0].rewrite else model


def reshapes_to_squeezes(model: bytes) -> bytes:
    """Every RESHAPE that only drops size-1 axes becomes the SQUEEZE it stands for (TensorFlow's converter
    turns each static SQUEEZE into a RESHAPE), through TensorFlow's own flatbuffer object API."""
    from tensorflow.lite.python import schema_py_generated as fb
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    code = fb.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = fb.BuiltinOperator.SQUEEZE
    code.version = 1
    m.operatorCodes.append(code)
    squeeze = len(m.operatorCodes) - 1
    sg = m.subgraphs[0]
    for op in sg.operators:
        if m.operatorCodes[op.opcodeIndex].builtinCode != fb.BuiltinOperator.RESHAPE:
            continue
        shape_in = [int(d) for d in sg.tensors[op.inputs[0]].shape]
        shape_out = [int(d) for d in sg.tensors[op.outputs[0]].shape]
        ones = [i for i, d in enumerate(shape_in) if d == 1 and i > 0]
        for drop in (c for r in range(1, len(ones) + 1) for c in itertools.combinations(ones, r)):
            if [d for i, d in enumerate(shape_in) if i not in drop] == shape_out:
                options = fb.SqueezeOptionsT()
                options.squeezeDims = list(drop)
                op.opcodeIndex, op.inputs = squeeze, op.inputs[:1]
                op.builtinOptionsType, op.builtinOptions = fb.BuiltinOptions.SqueezeOptions, options
                break
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


def random_inputs(g: Graph, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    xs = []
    for t in g.inputs:
        x = rng.integers(-128, 128, size=(n, *g.tensors[t].shape[1:]), dtype=np.int16)
        x[0], x[1], x[2] = 127, -128, rng.integers(-128, 128)  # saturation and ties
        xs.append(x.astype(np.int8))
    return xs


def run_tflm(model: bytes, xs: list[np.ndarray]) -> list[np.ndarray]:
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(model, arena_size=4 << 20)
    n_out = len(parse_model(model).outputs)
    outs: list[list[np.ndarray]] = [[] for _ in range(n_out)]
    for b in range(xs[0].shape[0]):
        for i, x in enumerate(xs):
            interp.set_input(x[b : b + 1], i)
        interp.invoke()
        for j in range(n_out):
            outs[j].append(interp.get_output(j).copy())
    return [np.concatenate(o, axis=0) for o in outs]


def tensor_rec(g: Graph, t: int) -> TensorRec:
    tt = g.tensors[t]
    q = tt.quant
    return TensorRec(tt.dtype, tuple(tt.shape), STORE_CONST if tt.is_const else STORE_ARENA, 0, tt.nbytes,
                     q.zp if q else 0, q.s if q else 0.0)


# -- the C kernels, natively -------------------------------------------------------------------------
class CTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dims", ctypes.c_int32 * 4), ("nbytes", ctypes.c_uint32),
                ("zero_point", ctypes.c_int32), ("dtype", ctypes.c_uint8), ("rank", ctypes.c_uint8)]


class COp(ctypes.Structure):
    _fields_ = [("opcode", ctypes.c_uint16), ("index", ctypes.c_uint16), ("n_inputs", ctypes.c_uint8),
                ("n_outputs", ctypes.c_uint8), ("n_params", ctypes.c_uint8), ("flags", ctypes.c_uint8),
                ("params", ctypes.POINTER(ctypes.c_int32))]


def build_kernels(out_dir: Path) -> ctypes.CDLL:
    """Every CPU op's C kernel (the op specification lists them) as one shared library."""
    return shared_library(CPU_KERNEL_SOURCES, out_dir / "libcimkernels.so")


def _ctensor(arr: np.ndarray, rec: TensorRec) -> CTensor:
    dims = [1] * (4 - len(rec.shape)) + list(rec.shape)
    return CTensor(arr.ctypes.data, (ctypes.c_int32 * 4)(*dims), arr.nbytes, rec.zero_point, DTYPES[rec.dtype],
                   len(rec.shape))


def run_c(lib: ctypes.CDLL, rec: OpRec, arrays: list[np.ndarray], recs: list[TensorRec], out_rec: TensorRec
          ) -> np.ndarray:
    """The op's C kernel on one sample (arrays in the model's shapes); its load-time check must pass first."""
    spec = OPS[rec.opcode]
    c_arrays = [np.ascontiguousarray(a) for a in arrays]
    c_ins = [_ctensor(a, r) for a, r in zip(c_arrays, recs, strict=True)]
    y = np.full(out_rec.shape, 99, dtype=np.dtype(out_rec.dtype))
    c_out = _ctensor(y, out_rec)
    params = rec.param_list()
    p_arr = (ctypes.c_int32 * max(1, len(params)))(*params)
    cop = COp(spec.code, 0, len(c_ins), 1, len(params), 0, p_arr)
    ptrs = (ctypes.POINTER(CTensor) * len(c_ins))(*[ctypes.pointer(t) for t in c_ins])
    name = rec.opcode.lower()
    if spec.c_check:
        check = getattr(lib, f"cim_check_{name}")
        check.restype = ctypes.c_int
        rc = check(ctypes.byref(cop), ptrs, len(c_ins), ctypes.byref(c_out))
        assert rc == 0, f"{rec.opcode}: cim_check_{name} rejected a record the converter wrote ({rc}): {rec.params}"
    fn = getattr(lib, f"cim_kernel_{name}")
    fn.restype = ctypes.c_int
    rc = fn(ctypes.byref(cop), ptrs, len(c_ins), ctypes.byref(c_out))
    assert rc == 0, f"{rec.opcode}: C kernel returned {rc}"
    return y


# -- one batch model: TFLM, golden, C ----------------------------------------------------------------
def check_batch(model: bytes, opcode: str, lib: ctypes.CDLL | None, n: int = 24, seed: int = 0,
                c_samples: int = 3) -> int:
    """Every `opcode` op of `model` (golden) equals TFLM on `n` random inputs, and the C kernel equals the
    golden kernel on the first `c_samples` of them. Returns the number of ops (cases) checked; other ops
    TensorFlow made of a case are not counted."""
    g = parse_model(model, name=f"{opcode.lower()}_batch")
    rng = np.random.default_rng(seed)
    xs = random_inputs(g, n, rng)
    want = run_tflm(model, xs)
    values = dict(zip(g.inputs, xs, strict=True))
    checked = 0
    for op in g.operators:
        if op.opcode != opcode and op.opcode not in OPS:  # TensorFlow rewrote a case into an op we lack
            continue
        try:
            parts = lower_ops(g, op)
        except ModelError:
            if op.opcode == opcode:
                raise
            continue
        # an op of several outputs (SPLIT) lowers to one record per output; each is one case here
        checked += sum(_check_record(g, op, low, opcode, values, want, lib, n, c_samples) for low in parts)
    return checked


def _check_record(g: Graph, op: Operator, low: Lowered, opcode: str, values: dict, want: list[np.ndarray], lib: ctypes.CDLL | None,
                  n: int, c_samples: int) -> int:
    """Run one lowered record with the golden kernel (its output kept in `values`); when it computes one of
    the model's outputs for `opcode`, compare with TFLM and the C kernel. Returns 1 when compared."""
    from cimsdk.golden.kernels import KERNELS

    rec = OpRec(low.opcode, low.inputs, low.outputs, low.params, False, op.index)
    if any(t not in values and not g.tensors[t].is_const for t in low.inputs):
        return 0  # fed by a skipped op
    arrays = [g.tensors[t].data if g.tensors[t].is_const else values[t] for t in low.inputs]
    recs = [tensor_rec(g, t) for t in low.inputs]
    out_t = low.outputs[0]
    out_rec = tensor_rec(g, out_t)
    got = KERNELS[rec.opcode](rec, arrays, recs, out_rec)
    values[out_t] = got
    if op.opcode != opcode or out_t not in g.outputs:  # other ops (a requantizing QUANTIZE) feed the cases
        return 0
    expect = want[g.outputs.index(out_t)]
    where = f"{opcode} operator {op.index} ({[list(r.shape) for r in recs]} -> {list(out_rec.shape)}, " \
            f"params {low.params})"
    assert got.shape == expect.shape, f"{where}: shape {got.shape}, TFLM {expect.shape}"
    bad = np.argwhere(got != expect)
    assert bad.size == 0, (f"{where}: {len(bad)} of {expect.size} elements differ from TFLM, first at "
                           f"{bad[0].tolist()}: golden {got[tuple(bad[0])]} TFLM {expect[tuple(bad[0])]}")
    if lib is not None:
        for b in range(min(c_samples, n)):
            sample = [a if r.storage == STORE_CONST else a[b : b + 1] for a, r in zip(arrays, recs, strict=True)]
            c = run_c(lib, rec, sample, recs, out_rec)
            assert np.array_equal(c.reshape(-1), got[b : b + 1].reshape(-1)), \
                f"{where}: the C kernel differs from the golden kernel on sample {b}"
    return 1
