"""The multiply-accumulate kernels every backend shares (see `cimsdk.mac`).

- `dense`: input rows times a weight matrix, through numpy's matmul (the machine's BLAS for float32/float64).
  Exact integer sums when the dtype comes from `exactness.exact_dtype`; the noisy backend passes each
  chip's float effective weights through the same call (one matrix per chip on a leading axis).
- `depthwise_taps`: a depthwise convolution straight from the padded input, one multiply-add per kernel tap
  and channel, in float32 (compiled when numba is installed, single-threaded without the GIL: callers run
  chunks on threads, `cimsdk.mac.threads`); per chip weights on a leading axis.
- `depthwise_windows`: the same sums over gathered windows (M, kh*kw, N), in numpy, in any dtype (the
  tile-by-tile backend runs it per tile in int64, the noisy simulator on its sample windows).
"""

from __future__ import annotations

import numpy as np

from cimsdk.mac.geometry import gather_windows

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; numpy stays as the fallback
    numba = None

COMPILED = numba is not None


def dense(x: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """x (..., M, K) int8 (or already in wt's dtype), wt (..., K, N) -> (..., M, N) in wt's dtype."""
    return np.matmul(x if x.dtype == wt.dtype else x.astype(wt.dtype), wt)


def depthwise_windows(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (..., M, KK, N) windows, w (..., N, KK) -> (..., M, N) sums in w's dtype, one pass per tap."""
    acc = np.zeros((*x.shape[:-2], x.shape[-1]), w.dtype)
    for k in range(x.shape[-2]):
        acc += x[..., k, :].astype(w.dtype) * w[..., None, :, k]
    return acc


if COMPILED:

    @numba.njit(cache=True, nogil=True)
    def _taps(xp, w, per_chip, sh, sw, dh, dw, dm, out):  # pragma: no cover - compiled
        """out[r, oy, ox, c] = sum_taps xp[r, oy*sh + ky*dh, ox*sw + kx*dw, c // dm] * w[r // per_chip, ky, kx, c]."""
        rows, oh, ow, n = out.shape
        kh, kw = w.shape[1], w.shape[2]
        for job in range(rows * oh):
            r = job // oh
            oy = job % oh
            t = r // per_chip
            acc = out[r, oy]  # (OW, N)
            acc[:] = 0
            for ky in range(kh):
                y = oy * sh + ky * dh
                for kx in range(kw):
                    wr = w[t, ky, kx]
                    for ox in range(ow):
                        xr = xp[r, y, ox * sw + kx * dw]
                        a = acc[ox]
                        if dm == 1:
                            for c in range(n):
                                a[c] += np.float32(xr[c]) * wr[c]
                        else:
                            for c in range(n):
                                a[c] += np.float32(xr[c // dm]) * wr[c]


def depthwise_taps(xp: np.ndarray, w: np.ndarray, p: dict[str, int], out_hw: tuple[int, int]) -> np.ndarray:
    """Padded int8 input (T*B, H', W', C), weights (T, kh, kw, N) float32 -> float32 (T*B, OH, OW, N).

    Exact integer sums for integer weights (a tap count times 128 x 128 is far below 2^24)."""
    rows = xp.shape[0]
    n = w.shape[3]
    out = np.empty((rows, *out_hw, n), np.float32)
    if COMPILED:
        _taps(np.ascontiguousarray(xp), np.ascontiguousarray(w, np.float32), rows // w.shape[0], p["stride_h"],
              p["stride_w"], p["dil_h"], p["dil_w"], p["depth_mult"], out)
        return out
    nopad = dict(p, pad_top=0, pad_left=0)
    win = gather_windows(xp, nopad, out_hw)  # (T*B, OH, OW, kh, kw, C)
    t_n = w.shape[0]
    win = win.reshape(t_n, rows // t_n, *out_hw, p["kernel_h"], p["kernel_w"], -1)
    out = out.reshape(t_n, rows // t_n, *out_hw, n)
    out[:] = 0
    for ky in range(p["kernel_h"]):
        for kx in range(p["kernel_w"]):
            tap = win[:, :, :, :, ky, kx, :].astype(np.float32)
            if p["depth_mult"] > 1:
                tap = np.repeat(tap, p["depth_mult"], axis=-1)
            out += tap * w[:, None, None, None, ky, kx, :]
    return out.reshape(rows, *out_hw, n)


__all__ = ["COMPILED", "dense", "depthwise_taps", "depthwise_windows"]
