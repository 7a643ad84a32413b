"""C CPU kernels (firmware/kernels) against the host kernels, element by element.

The C kernels and cim_fixedpoint.c are compiled natively into a shared library and called through
ctypes on random inputs with params from the real lowering (random scales, zero points, shapes,
strides, paddings, axes). The host kernels are checked against TFLM in test_kernels_tflm.py, so
agreement here carries the TFLM equivalence to the firmware. The same sources must also compile for
the rv32 target without warnings.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from ckernels import CPU_KERNEL_SOURCES, assert_compile_for_rv32, shared_library

from cimconv.image import DTYPES, STORE_ARENA, STORE_CONST, OpRec, TensorRec
from cimconv.ir import Graph, Operator, Quant, Tensor
from cimconv.opspec import OPS


class CTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dims", ctypes.c_int32 * 4), ("nbytes", ctypes.c_uint32),
                ("zero_point", ctypes.c_int32), ("dtype", ctypes.c_uint8), ("rank", ctypes.c_uint8)]


class COp(ctypes.Structure):
    _fields_ = [("opcode", ctypes.c_uint16), ("index", ctypes.c_uint16), ("n_inputs", ctypes.c_uint8),
                ("n_outputs", ctypes.c_uint8), ("n_params", ctypes.c_uint8), ("flags", ctypes.c_uint8),
                ("params", ctypes.POINTER(ctypes.c_int32))]


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> ctypes.CDLL:
    return shared_library(CPU_KERNEL_SOURCES, tmp_path_factory.mktemp("ckernels") / "libcimkernels.so")


def test_kernels_compile_for_rv32(tmp_path: Path) -> None:
    assert_compile_for_rv32(CPU_KERNEL_SOURCES, tmp_path)


# -- building one-op graphs by hand and running both implementations ------------------------------

def q(scale: float, zp: int) -> Quant:
    return Quant(np.array([scale], np.float32), np.array([zp], np.int64))


class OneOp:
    """A one-op IR graph: activation inputs, optional constant inputs, one output."""

    def __init__(self, opcode: str, ins: list[tuple[tuple[int, ...], Quant | None, np.ndarray | None]],
                 out: tuple[tuple[int, ...], Quant | None, str], options: dict | None = None):
        tensors = []
        for i, (shape, qq, data) in enumerate(ins):
            dtype = "int8" if data is None else str(data.dtype)
            tensors.append(Tensor(i, f"in{i}", tuple(shape), dtype, qq, data))
        tensors.append(Tensor(len(ins), "out", tuple(out[0]), out[2], out[1]))
        self.op = Operator(0, opcode, list(range(len(ins))), [len(ins)], options or {})
        acts = [i for i, (_, _, d) in enumerate(ins) if d is None]
        self.graph = Graph("t", tensors, [self.op], acts[:1], [len(ins)])

    def lower(self) -> tuple[OpRec, list[int]]:
        import importlib

        mod = importlib.import_module(f"cimconv.lowering.{self.op.opcode.lower()}")
        params = mod.lower(self.graph, self.op)
        folded = set(getattr(mod, "PARAM_INPUTS", ()))
        ins = [t for i, t in enumerate(self.op.inputs) if i not in folded]
        return OpRec(self.op.opcode, ins, list(self.op.outputs), params), ins

    def rec(self, t: int) -> TensorRec:
        tt = self.graph.tensors[t]
        return TensorRec(tt.dtype, tt.shape, STORE_CONST if tt.is_const else STORE_ARENA, 0, tt.nbytes,
                         tt.quant.zp if tt.quant else 0, tt.quant.s if tt.quant else 0.0)


def _ctensor(arr: np.ndarray, rec: TensorRec) -> CTensor:
    shape = list(rec.shape)
    dims = [1] * (4 - len(shape)) + shape
    return CTensor(arr.ctypes.data, (ctypes.c_int32 * 4)(*dims), arr.nbytes, rec.zero_point,
                   DTYPES[rec.dtype], len(shape))


def run_both(lib: ctypes.CDLL, case: OneOp, xs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(host kernel output, C kernel output) for one sample (batch 1, the model's shapes)."""
    from cimsdk.golden.kernels import KERNELS

    rec, ins = case.lower()
    out_t = case.op.outputs[0]
    out_rec = case.rec(out_t)
    it = iter(xs)
    arrays = [case.graph.tensors[t].data if case.graph.tensors[t].is_const else next(it) for t in ins]
    recs = [case.rec(t) for t in ins]
    host = KERNELS[rec.opcode](rec, arrays, recs, out_rec)

    c_arrays = [np.ascontiguousarray(a) for a in arrays]
    c_ins = [_ctensor(a, r) for a, r in zip(c_arrays, recs, strict=True)]
    y = np.full(out_rec.shape, 99, dtype=np.int8)
    c_out = _ctensor(y, TensorRec("int8", out_rec.shape, 0, 0, y.nbytes, out_rec.zero_point))
    params = rec.param_list()
    p_arr = (ctypes.c_int32 * max(1, len(params)))(*params)
    cop = COp(OPS[rec.opcode].code, 0, len(ins), 1, len(params), 0, p_arr)
    ptrs = (ctypes.POINTER(CTensor) * len(c_ins))(*[ctypes.pointer(t) for t in c_ins])
    fn = getattr(lib, f"cim_kernel_{rec.opcode.lower()}")
    fn.restype = ctypes.c_int
    rc = fn(ctypes.byref(cop), ptrs, len(c_ins), ctypes.byref(c_out))
    assert rc == 0, f"{rec.opcode}: C kernel returned {rc}"
    return host, y


def rand_q(rng: np.random.Generator, lo: float = 1e-3, hi: float = 0.5) -> Quant:
    return q(float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), int(rng.integers(-128, 128)))


def i8(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-128, 128, size=shape, dtype=np.int16).astype(np.int8)


ACTS = ["NONE", "RELU", "RELU6"]


def gen_pool(opcode: str) -> Callable[[np.random.Generator], tuple[OneOp, list[np.ndarray]]]:
    def make(rng: np.random.Generator):
        from cimconv.lowering._cpu_common import compute_out_and_pad

        h, w, c = (int(v) for v in rng.integers(1, 12, 3))
        fh, fw = int(rng.integers(1, h + 2)), int(rng.integers(1, w + 2))
        sh, sw = (int(v) for v in rng.integers(1, 4, 2))
        padding = str(rng.choice(["SAME", "VALID"]))
        if padding == "VALID":
            fh, fw = min(fh, h), min(fw, w)
        oh, _ = compute_out_and_pad(padding, h, fh, sh)
        ow, _ = compute_out_and_pad(padding, w, fw, sw)
        qq = rand_q(rng)
        case = OneOp(opcode, [((1, h, w, c), qq, None)], ((1, oh, ow, c), qq, "int8"),
                     {"filter_height": fh, "filter_width": fw, "stride_h": sh, "stride_w": sw,
                      "padding": padding, "fused_activation_function": str(rng.choice(ACTS))})
        return case, [i8(rng, (1, h, w, c))]
    return make


def _bcast_shapes(rng: np.random.Generator, const_b: bool
                  ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Broadcast-compatible shapes; activations keep dim 0 = 1 (the batch), constants need not."""
    rank = int(rng.integers(2, 5))
    out = [1] + [int(v) for v in rng.integers(1, 7, rank - 1)]
    a = [d if rng.random() < 0.7 else 1 for d in out]
    b = [d if rng.random() < 0.5 else 1 for d in out]
    if rng.random() < 0.4 and len(b) > 2:
        cut = int(rng.integers(1, len(b) - 1))
        b = b[cut:] if const_b else [1] + b[cut + 1:]  # lower rank, right-aligned as in TFLM
    bb = [1] * (rank - len(b)) + b
    for i, d in enumerate(out):  # every output dim must come from one of the inputs
        if a[i] != d and bb[i] != d:
            a[i] = d
    return tuple(a), tuple(b), tuple(out)


def gen_binary(opcode: str):
    def make(rng: np.random.Generator):
        const_b = bool(rng.random() < 0.3)
        a, b, out = _bcast_shapes(rng, const_b)
        bdata = i8(rng, b) if const_b else None
        case = OneOp(opcode, [(a, rand_q(rng, 1e-3, 1.0), None), (b, rand_q(rng, 1e-3, 1.0), bdata)],
                     (out, rand_q(rng, 1e-3, 1.0), "int8"),
                     {"fused_activation_function": str(rng.choice(ACTS))})
        xs = [i8(rng, a)] + ([] if const_b else [i8(rng, b)])
        return case, xs
    return make


def gen_softmax(rng):
    shape = (1,) + tuple(int(v) for v in rng.integers(1, 20, int(rng.integers(1, 4))))
    if rng.random() < 0.25:  # rows longer than the kernel's exp cache (CIM_SOFTMAX_CACHE, 64)
        shape = (*shape[:-1], int(rng.integers(60, 140)))
    case = OneOp("SOFTMAX", [(shape, rand_q(rng, 1e-3, 2.0), None)], (shape, q(1 / 256, -128), "int8"),
                 {"beta": float(rng.choice([1.0, 0.5, 2.0]))})
    x = i8(rng, shape)
    if rng.random() < 0.3:
        x[...] = rng.integers(-10, 10, size=shape)  # many ties near the maximum
    return case, [x]


def gen_logistic_all(rng):
    """All 256 input values at once, random input quantization."""
    case = OneOp("LOGISTIC", [((1, 256), rand_q(rng, 1e-3, 2.0), None)], ((1, 256), q(1 / 256, -128), "int8"))
    return case, [np.arange(-128, 128, dtype=np.int16).astype(np.int8)[None, :]]


def gen_quantize(rng):
    case = OneOp("QUANTIZE", [((1, 256), rand_q(rng, 1e-3, 1.0), None)], ((1, 256), rand_q(rng, 1e-3, 1.0),
                                                                         "int8"))
    return case, [np.arange(-128, 128, dtype=np.int16).astype(np.int8)[None, :]]


def gen_reshape(rng):
    n = int(rng.integers(1, 50))
    case = OneOp("RESHAPE", [((1, n), q(0.1, 3), None), ((2,), None, np.array([1, n], np.int32))],
                 ((1, 1, n), q(0.1, 3), "int8"))
    return case, [i8(rng, (1, n))]


def gen_dequantize(rng):
    n = int(rng.integers(1, 50))
    case = OneOp("DEQUANTIZE", [((1, n), q(0.1, 3), None)], ((1, n), None, "float32"))
    # the host kernel passes int8 on; the C kernel copies the int8 bytes
    return case, [i8(rng, (1, n))]


def gen_pad(rng):
    rank = int(rng.integers(2, 5))
    shape = (1,) + tuple(int(v) for v in rng.integers(1, 6, rank - 1))
    pads = np.zeros((rank, 2), np.int32)
    pads[1:] = rng.integers(0, 4, size=(rank - 1, 2))
    out = tuple(int(d + p.sum()) for d, p in zip(shape, pads, strict=True))
    qq = rand_q(rng)
    case = OneOp("PAD", [(shape, qq, None), ((rank, 2), None, pads)], (out, qq, "int8"))
    return case, [i8(rng, shape)]


def gen_concat(rng):
    rank = int(rng.integers(2, 5))
    base = [1] + [int(v) for v in rng.integers(1, 5, rank - 1)]
    axis = int(rng.integers(1, rank))
    n = int(rng.integers(1, 5))
    shapes = []
    for _ in range(n):
        s = list(base)
        s[axis] = int(rng.integers(1, 5))
        shapes.append(tuple(s))
    out = list(base)
    out[axis] = sum(s[axis] for s in shapes)
    qq = rand_q(rng)
    neg = rng.random() < 0.5
    case = OneOp("CONCATENATION", [(s, qq, None) for s in shapes], (tuple(out), qq, "int8"),
                 {"axis": axis - rank if neg else axis, "fused_activation_function": "NONE"})
    return case, [i8(rng, s) for s in shapes]


def gen_mean(rng):
    rank = int(rng.integers(2, 5))
    shape = (1,) + tuple(int(v) for v in rng.integers(1, 9, rank - 1))
    k = int(rng.integers(1, min(2, rank - 1) + 1))
    axes = sorted(int(a) for a in rng.choice(np.arange(1, rank), size=k, replace=False))
    keep = bool(rng.random() < 0.5)
    out = tuple(1 if d in axes else n for d, n in enumerate(shape)) if keep else \
        tuple(n for d, n in enumerate(shape) if d not in axes)
    case = OneOp("MEAN", [(shape, rand_q(rng, 1e-3, 1.0), None),
                          ((k,), None, np.array([a - rank if rng.random() < 0.3 else a for a in axes], np.int32))],
                 (out, rand_q(rng, 1e-3, 1.0), "int8"), {"keep_dims": keep})
    return case, [i8(rng, shape)]


GENERATORS = {
    "AVERAGE_POOL_2D": gen_pool("AVERAGE_POOL_2D"),
    "MAX_POOL_2D": gen_pool("MAX_POOL_2D"),
    "ADD": gen_binary("ADD"),
    "MUL": gen_binary("MUL"),
    "RESHAPE": gen_reshape,
    "SOFTMAX": gen_softmax,
    "PAD": gen_pad,
    "CONCATENATION": gen_concat,
    "MEAN": gen_mean,
    "LOGISTIC": gen_logistic_all,
    "QUANTIZE": gen_quantize,
    "DEQUANTIZE": gen_dequantize,
}


@pytest.mark.parametrize("opcode", list(GENERATORS))  # ops added since: tests/test_ops_tflm.py, same cases as TFLM
def test_c_kernel_matches_host(lib: ctypes.CDLL, opcode: str) -> None:
    rng = np.random.default_rng(OPS[opcode].code)
    for trial in range(60):
        case, xs = GENERATORS[opcode](rng)
        host, c = run_both(lib, case, xs)
        assert host.shape[1:] == c.shape[1:] and host.size == c.size
        bad = np.flatnonzero(host.reshape(-1) != c.reshape(-1))
        assert bad.size == 0, (f"{opcode} trial {trial}: {bad.size} of {c.size} elements differ; "
                               f"params {case.lower()[0].params}")
