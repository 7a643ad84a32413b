"""Fused, compiled versions of the golden model's two hottest loops (numba, when installed).

They compute exactly what `fixedpoint.requantize` and the tap-by-tap depthwise sum compute (tests check
both paths agree); they only avoid numpy's many passes over int64 temporaries, which dominate the
batched emulator's time. Without numba the numpy versions run.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - exercised when numba is absent
    numba = None

ENABLED = numba is not None


if ENABLED:

    @numba.njit(cache=True, inline="always")
    def _rq(x, mult, shift, zp, lo, hi):  # pragma: no cover - compiled
        """bias-added accumulator -> int8: MultiplyByQuantizedMultiplier + zero point + clamp (see fixedpoint)."""
        if shift > 0:
            x = x << shift
        t = (x * np.int64(mult) + np.int64(1 << 30)) >> 31
        if shift < 0:
            r = -shift
            t = (t + (np.int64(1) << (r - 1)) - (1 if t < 0 else 0)) >> r
        t += zp
        if t < lo:
            t = lo
        elif t > hi:
            t = hi
        return t

    @numba.njit(cache=True, inline="always")
    def _rq_row(acc, bias, mult, left, right, half, neg, zp, lo, hi, out):  # pragma: no cover - compiled
        """`_rq` over one output row, branch-free per column so the compiler vectorizes it."""
        for c in range(acc.shape[0]):
            t = ((np.int64(acc[c]) + bias[c]) << left[c]) * mult[c] + np.int64(1 << 30)
            t >>= 31
            t = (t + half[c] - (neg[c] & (t >> 63))) >> right[c]
            t += zp
            out[c] = min(max(t, lo), hi)

    @numba.njit(cache=True, parallel=True, fastmath=False)
    def _requant(acc, bias, mult, shift, zp, lo, hi, out):  # pragma: no cover - compiled
        rows, cols = acc.shape
        for i in numba.prange(rows):
            for c in range(cols):
                out[i, c] = _rq(np.int64(acc[i, c]) + np.int64(bias[c]), mult[c], shift[c], zp, lo, hi)

    @numba.njit(cache=True, parallel=True)
    def _depthwise(xp, w, bias, mult, left, right, half, neg, zp, lo, hi, sh, sw, dh, dw, dm, out):  # pragma: no cover
        b, oh, ow, n = out.shape
        kh, kw, _ = w.shape
        for job in numba.prange(b * oh):
            bi = job // oh
            oy = job % oh
            acc = np.empty(n, np.int32)
            for ox in range(ow):
                acc[:] = 0
                for ky in range(kh):
                    for kx in range(kw):
                        y = oy * sh + ky * dh
                        x0 = ox * sw + kx * dw
                        if dm == 1:
                            for c in range(n):
                                acc[c] += np.int32(xp[bi, y, x0, c]) * w[ky, kx, c]
                        else:
                            for ci in range(n // dm):
                                v = np.int32(xp[bi, y, x0, ci])
                                for j in range(dm):
                                    acc[ci * dm + j] += v * w[ky, kx, ci * dm + j]
                _rq_row(acc, bias, mult, left, right, half, neg, zp, lo, hi, out[bi, oy, ox])


if ENABLED:

    @numba.njit(cache=True, parallel=True)
    def _conv(xp, w, bias, mult, left, right, half, neg, zp, lo, hi, kh, kw, sh, sw, dh, dw, out):  # pragma: no cover
        b, oh, ow, n = out.shape
        cin = xp.shape[3]
        k = kh * kw * cin
        for job in numba.prange(b * oh):
            bi = job // oh
            oy = job % oh
            win = np.empty(k, np.int16)
            acc = np.empty(n, np.int32)
            for ox in range(ow):
                i = 0
                for ky in range(kh):
                    for kx in range(kw):
                        for ci in range(cin):
                            win[i] = xp[bi, oy * sh + ky * dh, ox * sw + kx * dw, ci]
                            i += 1
                for c in range(n):
                    a = np.int32(0)
                    for j in range(k):
                        a += np.int32(win[j]) * np.int32(w[c, j])
                    acc[c] = a
                _rq_row(acc, bias, mult, left, right, half, neg, zp, lo, hi, out[bi, oy, ox])


def conv(xp: np.ndarray, w: np.ndarray, bias, mult, shift, p: dict[str, int], out_hw: tuple[int, int]
         ) -> np.ndarray:
    """Padded input (B, H', W', C) int8, column-major weights (N, K) -> int8 (B, OH, OW, N)."""
    out = np.empty((xp.shape[0], *out_hw, w.shape[0]), np.int8)
    _conv(xp, w.astype(np.int16), *_column_terms(bias, mult, shift), p["out_zp"], p["act_min"], p["act_max"],
          p["kernel_h"], p["kernel_w"], p["stride_h"], p["stride_w"], p["dil_h"], p["dil_w"], out)
    return out


def _column_terms(bias, mult, shift) -> tuple[np.ndarray, ...]:
    """Per-column constants of the branch-free requantization: bias, multiplier, left and right shifts,
    the rounding half and the negative-value adjustment (1 where a right shift rounds)."""
    shift = np.asarray(shift, np.int64)
    right = np.maximum(-shift, 0)
    half = np.where(right > 0, np.left_shift(1, np.maximum(right - 1, 0)), 0).astype(np.int64)
    return (np.asarray(bias, np.int64), np.asarray(mult, np.int64), np.maximum(shift, 0), right, half,
            (right > 0).astype(np.int64))


def requant(acc: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, zp: int, lo: int, hi: int
            ) -> np.ndarray:
    """(rows, cols) sums (int64 or exact float) + bias -> int8, TFLM's arithmetic."""
    out = np.empty(acc.shape, np.int8)
    _requant(acc, bias.astype(np.int64), mult.astype(np.int64), shift.astype(np.int64), zp, lo, hi, out)
    return out


def depthwise(xp: np.ndarray, w: np.ndarray, bias, mult, shift, p: dict[str, int], out_hw: tuple[int, int]
              ) -> np.ndarray:
    """Padded input (B, H', W', C) int8, weights (kh, kw, N) -> int8 (B, OH, OW, N)."""
    out = np.empty((xp.shape[0], *out_hw, w.shape[2]), np.int8)
    _depthwise(xp, w.astype(np.int32), *_column_terms(bias, mult, shift), p["out_zp"], p["act_min"],
               p["act_max"], p["stride_h"], p["stride_w"], p["dil_h"], p["dil_w"], p["depth_mult"], out)
    return out
