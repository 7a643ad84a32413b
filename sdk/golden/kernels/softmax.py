"""SOFTMAX int8 -> int8 or int16 (TFLM reference_ops::Softmax, gemmlowp fixed point) over the last axis, and
int16 -> int16 (TFLM reference_ops::SoftmaxInt16, the 16x8 mode).

int8: exp(x - max) depends only on the difference (-255..0), so it is a table; per row there is one sum and
one reciprocal, computed vectorized over all rows of the batch. int16: the record's constant input holds TFLM's
two interpolated tables (exp on [-10, 0], then 1 / (1 + x) on [0, 1]; cimconv.lowering._softmax16).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.fixedpoint import mbqm, rdbpot, srdhm
from cimsdk.golden.kernels import _float
from cimsdk.golden.kernels._gemmlowp import exp_on_negative_values, get_reciprocal

SCALED_DIFF_INTEGER_BITS = 5
ACCUM_INTEGER_BITS = 12


@lru_cache(maxsize=256)
def tables(mult: int, left_shift: int, diff_min: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid, exp Q0.31, exp rescaled to Q12.19) indexed by diff + 255."""
    diff = np.arange(-255, 1, dtype=np.int64)
    valid = diff >= diff_min
    rescaled = srdhm(np.where(valid, diff, 0) * (1 << left_shift), mult)
    e = np.where(valid, exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS), 0)
    return valid, e, rdbpot(e, ACCUM_INTEGER_BITS)


def lut_lookup(v: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """TFLM's int16 table lookup: 512 steps of 128 over [-32768, 32767], linearly interpolated (int16 result)."""
    idx = 256 + (v >> 7)
    base = lut[idx].astype(np.int32)
    slope = (lut[idx + 1].astype(np.int32) - base).astype(np.int16).astype(np.int32)
    return (base + ((slope * (v & 0x7F) + 64) >> 7)).astype(np.int16)


def softmax16(x: np.ndarray, mult: int, left_shift: int, luts: np.ndarray) -> np.ndarray:
    """SoftmaxInt16 over the last axis: Q0.15 outputs (scale 1/32768, zero point 0)."""
    exp_lut, recip_lut = luts[:513], luts[513:]
    xi = x.astype(np.int32)
    scaled = mbqm(xi - xi.max(axis=-1, keepdims=True), mult, left_shift)
    e = lut_lookup(np.clip(scaled + 32767, -32768, 32767), exp_lut).astype(np.int64)
    total = e.sum(axis=-1, keepdims=True)  # Q16.15, positive (the row maximum's exp is near 1)
    headroom_plus_one = 32 - np.frexp(total.astype(np.float64))[1].astype(np.int64)  # leading zeros (uint32)
    shifted = ((total << (headroom_plus_one - 1)) + (1 << 13)) >> 14
    recip = lut_lookup(np.clip(shifted - ((1 << 15) + (1 << 16)), -32768, 32767), recip_lut).astype(np.int64)
    right_shift = 31 - headroom_plus_one
    out = (e * recip + (np.int64(1) << (right_shift - 1))) >> right_shift
    return np.clip(out, 0, 32767).astype(np.int16)


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    p = op.params
    x = inputs[0]
    if x.dtype == np.int16:
        return softmax16(x, p["input_mult"], p["input_left_shift"], inputs[1])
    if x.dtype == np.float32:  # a float model on a floating-point target (sram-fpcim)
        return _float.softmax(x)
    valid, e, e_acc = tables(p["input_mult"], p["input_left_shift"], p["diff_min"])
    xi = x.astype(np.int16)
    idx = xi - xi.max(axis=-1, keepdims=True) + 255
    total = e_acc[idx].sum(axis=-1, keepdims=True)
    scale, nbou = get_reciprocal(total, ACCUM_INTEGER_BITS)
    info = np.iinfo(out_rec.dtype)  # int8, or int16 (zero point -32768, scale 1/65536)
    out = rdbpot(srdhm(scale, e[idx]), nbou + 31 - info.bits) + info.min
    out = np.where(valid[idx], np.clip(out, info.min, info.max), info.min)
    return out.astype(out_rec.dtype)
