"""The C kernels of the SVDF model (firmware/kernels/svdf.c with int8 and int16 state, quantize.c and
softmax.c on int16) against the host kernels, element by element, the SVDF state carried over many frames.

Compiled natively and called through ctypes, as tests/test_kernels_c.py does for the other kernels (the
host kernels are checked against TFLM in tests/test_recurrent_svdf.py); the same sources must compile for
rv32 without warnings.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest
from ckernels import FW, assert_compile_for_rv32, shared_library
from test_kernels_c import COp, CTensor

from cimconv.image import DTYPES, TENSOR_STATE, OpRec, TensorRec
from cimconv.opspec import OPS
from cimsdk.golden.kernels import KERNELS

SOURCES = [FW / "kernels" / f for f in ("svdf.c", "quantize.c", "softmax.c", "cim_fixedpoint.c")]


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> ctypes.CDLL:
    return shared_library(SOURCES, tmp_path_factory.mktemp("ckernels") / "librec.so")


def test_recurrent_kernels_compile_for_rv32(tmp_path: Path) -> None:
    assert_compile_for_rv32(SOURCES, tmp_path)


def _ct(arr: np.ndarray, rec: TensorRec) -> CTensor:
    dims = [1] * (4 - len(rec.shape)) + list(rec.shape)
    return CTensor(arr.ctypes.data, (ctypes.c_int32 * 4)(*dims), arr.nbytes, rec.zero_point, DTYPES[rec.dtype],
                   len(rec.shape))


def call(lib: ctypes.CDLL, op: OpRec, arrays: list[np.ndarray], recs: list[TensorRec], out: np.ndarray,
         out_rec: TensorRec) -> None:
    params = op.param_list()
    p_arr = (ctypes.c_int32 * len(params))(*params)
    cop = COp(OPS[op.opcode].code, 0, len(arrays), 1, len(params), 0, p_arr)
    cts = [_ct(a, r) for a, r in zip(arrays, recs, strict=True)]
    ptrs = (ctypes.POINTER(CTensor) * len(cts))(*[ctypes.pointer(t) for t in cts])
    c_out = _ct(out, out_rec)
    fn = getattr(lib, f"cim_kernel_{op.opcode.lower()}")
    fn.restype = ctypes.c_int
    assert fn(ctypes.byref(cop), ptrs, len(cts), ctypes.byref(c_out)) == 0


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("case", range(12))
def test_svdf_kernel_matches_host_over_frames(lib: ctypes.CDLL, case: int, dtype: str) -> None:
    """int8 or int16 state and time weights; int16 ones in odd cases over the whole range (the int32 sums
    wrap, the outputs saturate), in even ones within +-3000 (outputs spread)."""
    rng = np.random.default_rng(100 + case)
    info = np.iinfo(dtype)
    full = dtype == "int8" or case % 2 == 1
    lo, hi = (info.min, info.max) if full else (-3000, 3000)
    rank = int(rng.integers(1, 4))
    units, memory = int(rng.integers(1, 40)), int(rng.integers(1, 33))
    n_filter = units * rank
    state_zp, out_zp = int(rng.integers(lo, hi + 1)), int(rng.integers(-128, 128))
    params = {"rank": rank, "state_zp": state_zp, "out_zp": out_zp,
              "mult": int(rng.integers(1 << 30, 1 << 31)), "shift": int(rng.integers(-12, 1)) - (0 if full else 14)}
    with_bias = bool(case % 3)
    op = OpRec("SVDF", list(range(4 if with_bias else 3)), [9], params)
    wt = rng.integers(lo, hi + 1, size=(n_filter, memory)).astype(dtype)
    bias = rng.integers(-(1 << 16), 1 << 16, size=units).astype(np.int32)
    recs = [TensorRec(dtype, (1, n_filter), 0, 0, n_filter * info.bits // 8),
            TensorRec(dtype, (1, n_filter * memory), 0, 0, n_filter * memory * info.bits // 8, state_zp, 0.0,
                      TENSOR_STATE),
            TensorRec(dtype, (n_filter, memory), 1, 0, wt.nbytes),
            TensorRec("int32", (units,), 1, 0, bias.nbytes)][: len(op.inputs)]
    out_rec = TensorRec("int8", (1, units), 0, 0, units, out_zp)
    host_state = rng.integers(lo, hi + 1, size=(1, n_filter * memory)).astype(dtype)
    c_state = host_state.copy()
    for frame in range(3 * memory + 2):
        feature = rng.integers(lo, hi + 1, size=(1, n_filter)).astype(dtype)
        consts = [wt, bias][: len(op.inputs) - 2]
        host = KERNELS["SVDF"](op, [feature, host_state, *consts], recs, out_rec)
        y = np.full((1, units), 99, np.int8)
        call(lib, op, [feature, c_state, *consts], recs, y, out_rec)
        np.testing.assert_array_equal(c_state, host_state, err_msg=f"frame {frame}: state")
        np.testing.assert_array_equal(y, host, err_msg=f"frame {frame}: output")
    if not full:
        assert ((host > -128) & (host < 127)).any()  # not all saturated


@pytest.mark.parametrize("out_dtype", ["int8", "int16", "int32"])
def test_quantize_from_int16_matches_host(lib: ctypes.CDLL, out_dtype: str) -> None:
    rng = np.random.default_rng(DTYPES[out_dtype])
    info = np.iinfo(out_dtype)
    for _ in range(40):
        n = int(rng.integers(1, 200))
        x = rng.integers(-32768, 32768, size=(1, n)).astype(np.int16)
        zp_hi = min(info.max, 1 << 20)
        params = {"in_zp": int(rng.integers(-32768, 32768)), "out_zp": int(rng.integers(max(info.min, -zp_hi), zp_hi)),
                  "mult": int(rng.integers(1 << 30, 1 << 31)), "shift": int(rng.integers(-20, 8))}
        op = OpRec("QUANTIZE", [0], [1], params)
        in_rec = TensorRec("int16", (1, n), 0, 0, x.nbytes, params["in_zp"])
        out_rec = TensorRec(out_dtype, (1, n), 0, 0, n * info.bits // 8, params["out_zp"])
        host = KERNELS["QUANTIZE"](op, [x], [in_rec], out_rec)
        y = np.zeros((1, n), out_dtype)
        call(lib, op, [x], [in_rec], y, out_rec)
        np.testing.assert_array_equal(y, host, err_msg=str(params))


def test_softmax_int16_output_matches_host(lib: ctypes.CDLL) -> None:
    from cimconv.lowering.softmax import calculate_input_radius
    from cimconv.qmath import quantize_multiplier

    rng = np.random.default_rng(16)
    for _ in range(60):
        depth = int(rng.integers(1, 40))
        scale = float(np.exp(rng.uniform(np.log(1e-3), np.log(0.5))))
        mult, shift = quantize_multiplier(min(scale * (1 << 26), (1 << 31) - 1.0))
        op = OpRec("SOFTMAX", [0], [1], {"input_mult": mult, "input_left_shift": shift,
                                          "diff_min": -calculate_input_radius(5, shift)})
        x = rng.integers(-128, 128, size=(3, depth)).astype(np.int8)
        in_rec = TensorRec("int8", (3, depth), 0, 0, x.nbytes)
        out_rec = TensorRec("int16", (3, depth), 0, 0, 2 * x.size, -32768)
        host = KERNELS["SOFTMAX"](op, [x], [in_rec], out_rec)
        y = np.zeros((3, depth), np.int16)
        call(lib, op, [x], [in_rec], y, out_rec)
        np.testing.assert_array_equal(y, host)
        assert host.dtype == np.int16 and (len(np.unique(host)) > 2 or depth <= 2)
