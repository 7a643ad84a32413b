"""TFLM's integer arithmetic, vectorized over numpy arrays (int64 internally, int32 results).

These are the formulas of gemmlowp/TFLM reference kernels (SaturatingRoundingDoublingHighMul,
RoundingDivideByPOT, MultiplyByQuantizedMultiplier without TFLITE_SINGLE_ROUNDING), which the
tflite-micro interpreter uses. The CiM ops' requantization, the same arithmetic in fewer passes, is
`cimsdk.mac.requant`.
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

