"""HARD_SWISH int8 (TFLM reference_ops::HardSwish, quantized): 16-bit fixed-point arithmetic on the input
moved to a hires scale, a "relu-ish" factor in [0, 1] and the output shift; one 256-entry table per op."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.kernels._common import INT8_ALL, apply_lut

I16_MIN, I16_MAX = -(1 << 15), (1 << 15) - 1


def _trunc_div(a: np.ndarray, d: int) -> np.ndarray:
    """C integer division (toward zero)."""
    return np.where(a >= 0, a // d, -((-a) // d))


def srdhm16(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul for int16."""
    ab = a.astype(np.int64) * b
    out = _trunc_div(ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14)), 1 << 15)
    return np.where((a == I16_MIN) & (b == I16_MIN), I16_MAX, out)


def sdhm16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SaturatingDoublingHighMul for int16 (rounding toward zero)."""
    ab = a.astype(np.int64) * b
    return np.where((a == b) & (a == I16_MIN), I16_MAX, _trunc_div(ab, 1 << 15))


def rdbpot(x: np.ndarray, exponent: int) -> np.ndarray:
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def sat_lshift16(x: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(x * (1 << amount), I16_MIN, I16_MAX)


def to_int16(x: np.ndarray) -> np.ndarray:
    """The C cast of an int value to int16_t (wraps)."""
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


@lru_cache(maxsize=256)
def table(in_zp: int, out_zp: int, out_mult: int, out_exp: int, reluish_mult: int, reluish_exp: int) -> np.ndarray:
    v = to_int16(INT8_ALL - in_zp)
    hires = to_int16(v * (1 << 7))
    preshift = to_int16(srdhm16(hires, out_mult))
    r = hires
    if reluish_exp > 0:
        r = sat_lshift16(r, reluish_exp - 1)
    r = to_int16(srdhm16(r, reluish_mult))
    if reluish_exp > 0:
        r = sat_lshift16(r, 1)
    if reluish_exp < 0:
        r = rdbpot(r, -reluish_exp)
    r = to_int16((r + (1 << 15)) >> 1)
    out = to_int16(rdbpot(to_int16(sdhm16(r, preshift)), -out_exp) + out_zp)
    return np.clip(out, -128, 127).astype(np.int8)


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    return apply_lut(table(*op.param_list()), inputs[0])
