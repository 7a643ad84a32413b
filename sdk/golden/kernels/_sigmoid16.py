"""TFLM's 16-bit sigmoid and tanh (reference_integer_ops::Logistic / Tanh on int16): a 256-entry table of
sigmoid at steps of 1/24 in Q0.16, linearly interpolated; tanh(x) = 2 sigmoid(2x) - 1 on the same table.

TFLM's table (`sigmoid_table_uint16`) is round(65536 sigmoid(i / 24)), clamped to 65535, except at the
entries of `_ONE_HIGHER`, which hold one more (an interpolation-tuned table; the C kernel carries the same
256 values, and tests/test_recurrent_lstm.py holds both to TFLM's LSTM outputs).
"""

from __future__ import annotations

import math

import numpy as np

_ONE_HIGHER = (4, 8, 12, 14, 15, 16, 17, 19, 20, 21, 22, 25, 27, 28, 29, 30, 31, 33, 34, 35, 37, 39, 40, 41,
               43, 44, 45, 46, 49, 50, 54, 62, 63, 64, 66, 82, 86, 93, 100, 103, 112, 116, 135, 255)


def _table() -> np.ndarray:
    t = np.array([min(65535, round(65536 / (1 + math.exp(-i / 24)))) for i in range(256)], np.int64)
    t[list(_ONE_HIGHER)] += 1
    return np.minimum(t, 65535)


TABLE = _table()


def _scaled(x: np.ndarray, mult: int, shift: int) -> np.ndarray:
    """The input on the table's grid: x * mult, rounded right shift (mult 0: the power-of-two case, 3 << shift)."""
    if mult == 0:
        mult, shift = 3 << shift, 0
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    return (x.astype(np.int64) * mult + rnd) >> shift


def sigmoid16(x: np.ndarray, mult: int = 0, shift: int = 0) -> np.ndarray:
    """Logistic on int16 Q3.12 (as the LSTM calls it: multiplier 0, shift 0) -> int16 Q0.15."""
    v = _scaled(x, mult, shift)
    a = np.abs(v)
    hi = a >> 9
    idx = np.minimum(hi, 254)
    ua, ub = TABLE[idx], TABLE[idx + 1]
    res = np.where(hi >= 255, 0x7FFF << 10, (ua << 9) + (a & 0x1FF) * (ub - ua))
    res = np.where(v >= 0, res + (1 << 9), (1 << 25) - res + (1 << 9) - 1)
    return (res >> 10).astype(np.int64)


def tanh16(x: np.ndarray, mult: int, shift: int) -> np.ndarray:
    """Tanh on int16 with TFLM's (input_multiplier, input_left_shift) -> int16 Q0.15."""
    v = _scaled(x, mult, shift)
    a = np.abs(v)
    hi = a >> 8
    idx = np.minimum(hi, 254)
    ua, ub = TABLE[idx], TABLE[idx + 1]
    res = np.where(hi >= 255, 0xFFFF << 8, (ua << 8) + (a & 0xFF) * (ub - ua))
    res = np.where(v >= 0, res - (1 << 23) + (1 << 7), -res + (1 << 23) + (1 << 7) - 1)
    return (res >> 8).astype(np.int64)
