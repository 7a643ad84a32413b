"""The exact finish of a CiM op: bias, TFLM's requantization, output zero point and activation clamp.

`requantize` takes accumulators holding exact integers in any dtype (int64 from the tile-by-tile backend,
float32/float64 from the BLAS path, see `exactness`) and returns int8 (int16 for a FULLY_CONNECTED whose
output is int16: the LSTM's gate pre-activations). `requantize_wide` is TFLM's 16x8 finish (int16 inputs):
a 64-bit accumulator and the 64-bit MultiplyByQuantizedMultiplier with its 16-bit reduced multiplier. The formulas are gemmlowp/TFLM's
MultiplyByQuantizedMultiplier without single rounding (see `cimsdk.golden.fixedpoint.mbqm`), rewritten for
non-negative multipliers (all QuantizeMultiplier produces): SaturatingRoundingDoublingHighMul is
floor((a*b + 2^30) / 2^31) when b >= 0, and RoundingDivideByPOT(t, r) is floor((t + 2^(r-1) - [t < 0]) / 2^r)
for r >= 1. A compiled loop (numba, single-threaded and without the GIL: callers run chunks on threads, see
`cimsdk.mac.threads`) runs it when installed, otherwise numpy; tests check both equal `mbqm`.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; numpy stays as the fallback
    numba = None

COMPILED = numba is not None


def column_terms(bias, mult, shift) -> tuple[np.ndarray, ...]:
    """Per-column constants of the branch-free requantization: bias, multiplier, left and right shifts,
    the rounding half and the negative-value adjustment (1 where a right shift rounds)."""
    shift = np.asarray(shift, np.int64)
    right = np.maximum(-shift, 0)
    half = np.where(right > 0, np.left_shift(1, np.maximum(right - 1, 0)), 0).astype(np.int64)
    return (np.asarray(bias, np.int64), np.asarray(mult, np.int64), np.maximum(shift, 0), right, half,
            (right > 0).astype(np.int64))


if COMPILED:

    @numba.njit(cache=True, inline="always")
    def _row(acc, bias, mult, left, right, half, neg, zp, lo, hi, out):  # pragma: no cover - compiled
        """One output row, branch-free per column so the compiler vectorizes it."""
        for c in range(acc.shape[0]):
            t = ((np.int64(acc[c]) + bias[c]) << left[c]) * mult[c] + np.int64(1 << 30)
            t >>= 31
            t = (t + half[c] - (neg[c] & (t >> 63))) >> right[c]
            t += zp
            out[c] = min(max(t, lo), hi)

    @numba.njit(cache=True, nogil=True)
    def _rows(acc, bias, mult, left, right, half, neg, zp, lo, hi, out):  # pragma: no cover - compiled
        for i in range(acc.shape[0]):
            _row(acc[i], bias, mult, left, right, half, neg, zp, lo, hi, out[i])


def requantize_numpy(acc: np.ndarray, bias, mult, shift, zp: int, lo: int, hi: int, out_dtype=np.int8) -> np.ndarray:
    """The same arithmetic in numpy passes over int64 (the fallback, and the compiled loop's check)."""
    b, mult, left, right, half, neg = column_terms(bias, mult, shift)
    t = np.array(acc, dtype=np.int64, copy=True)
    t += b
    if left.any():
        t <<= left
    t *= mult
    t += 1 << 30
    t >>= 31
    below = t < 0
    t += half
    np.subtract(t, below, out=t, casting="unsafe", where=right > 0)
    t >>= right
    t += zp
    np.clip(t, lo, hi, out=t)
    return t.astype(out_dtype)


def requantize(acc: np.ndarray, bias, mult, shift, zp: int, lo: int, hi: int,
               terms: tuple[np.ndarray, ...] | None = None, out_dtype=np.int8) -> np.ndarray:
    """(M, N) exact-integer accumulators (any dtype) + bias -> int8 (or `out_dtype`) (M, N), TFLM's arithmetic.
    `terms`: the matrix's `column_terms(bias, mult, shift)`, when the caller keeps them."""
    if not COMPILED:
        return requantize_numpy(acc, bias, mult, shift, zp, lo, hi, out_dtype)
    acc = np.ascontiguousarray(acc).reshape(-1, acc.shape[-1])
    out = np.empty(acc.shape, out_dtype)
    _rows(acc, *(terms or column_terms(bias, mult, shift)), zp, lo, hi, out)
    return out


def reduced_multiplier(mult) -> np.ndarray:
    """TFLM's 64-bit MultiplyByQuantizedMultiplier keeps the multiplier's top 16 bits, rounded:
    (m + 2^15) >> 16, or 0x7FFF from 0x7FFF0000 up."""
    m = np.asarray(mult, np.int64)
    return np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)


def requantize_wide(acc: np.ndarray, bias, mult, shift, zp: int, lo: int, hi: int, out_dtype=np.int16
                    ) -> np.ndarray:
    """TFLM's 16x8 finish (int16 activations, int64 bias): acc + bias in int64, then the 64-bit
    MultiplyByQuantizedMultiplier, single rounding: (t * reduced + 2^(14-shift)) >> (15 - shift), clamped.
    (The products stay within int64: |t| < 2^47 by TFLM's own assumption, reduced <= 2^15.)"""
    t = np.array(acc, dtype=np.int64, copy=True)
    t += np.asarray(bias, np.int64)
    total = 15 - np.asarray(shift, np.int64)
    t *= reduced_multiplier(mult)
    t += np.left_shift(1, total - 1)
    t >>= total
    t += zp
    np.clip(t, lo, hi, out=t)
    return t.astype(out_dtype)


__all__ = ["COMPILED", "column_terms", "reduced_multiplier", "requantize", "requantize_numpy", "requantize_wide"]
