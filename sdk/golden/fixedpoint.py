"""TFLM's integer arithmetic, vectorized over numpy arrays (int64 internally, int32 results).

These are the formulas of gemmlowp/TFLM reference kernels (SaturatingRoundingDoublingHighMul,
RoundingDivideByPOT, MultiplyByQuantizedMultiplier without TFLITE_SINGLE_ROUNDING), which the
tflite-micro interpreter uses.
"""

from __future__ import annotations

import numpy as np

_I32_MIN = -(1 << 31)
_I32_MAX = (1 << 31) - 1


def srdhm(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul(a, b) for int32 a, b."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    num = ab + nudge
    # C++ integer division truncates toward zero
    res = np.where(num >= 0, num >> 31, -((-num) >> 31))
    overflow = (a == _I32_MIN) & (b == _I32_MIN)
    return np.where(overflow, _I32_MAX, res).astype(np.int64)


def rdbpot(x: np.ndarray | int, exponent: np.ndarray | int) -> np.ndarray:
    """RoundingDivideByPOT(x, exponent), exponent in [0, 31]."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + np.where(x < 0, 1, 0)
    return (x >> exponent) + np.where(remainder > threshold, 1, 0)


def mbqm(x: np.ndarray | int, mult: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """MultiplyByQuantizedMultiplier(x, mult, shift) (TFLM, double rounding)."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.where(shift > 0, shift, 0)
    right = np.where(shift > 0, 0, -shift)
    xl = x * (np.int64(1) << left)
    # x * (1 << left) is computed in int32 in C; valid models never overflow here
    return rdbpot(srdhm(xl, mult), right)


def requantize(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray, out_zp: int, act_min: int, act_max: int
               ) -> np.ndarray:
    """int32 accumulators (last axis = channel) to int8 outputs: the last stage of every CiM op.

    Same result as `mbqm` for non-negative multipliers (all QuantizeMultiplier produces), in fewer
    in-place passes: SaturatingRoundingDoublingHighMul is floor((a*b + 2^30) / 2^31) when b >= 0, and
    RoundingDivideByPOT(t, r) is floor((t + 2^(r-1) - [t < 0]) / 2^r) for r >= 1.
    """
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    t = np.array(acc, dtype=np.int64, copy=True)
    if left.any():
        t <<= left
    t *= mult
    t += 1 << 30
    t >>= 31
    half = np.where(right > 0, np.left_shift(1, np.maximum(right - 1, 0)), 0)
    neg = t < 0
    t += half
    np.subtract(t, neg, out=t, casting="unsafe", where=right > 0)
    t >>= right
    t += out_zp
    np.clip(t, act_min, act_max, out=t)
    return t.astype(np.int8)
