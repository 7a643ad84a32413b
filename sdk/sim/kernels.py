"""Compiled (numba) fused kernels of the fast noisy mode: one loop per CiM op does the float dot product with
each chip's effective weights, adds the output noise, requantizes and clips -- no float temporaries, no
separate noise pass, no Python per tile.

Why it is equivalent to the numpy fast path (`AnalogCimModel._fast` + requantization): per chip t and column
c the digital chain `((acc + corr + clip_mean + e) * gain + cal_bias + bias) * scale` is affine in `acc`, so it
folds into effective weights `w' = w * gain * scale`, one offset `b'` and one noise scale
`s' = scale * gain * sqrt(sd^2 + clip_sd^2)` (the two Gaussian terms are independent). `tests/test_sim_fast.py`
checks the fused and numpy paths agree.

Gaussian draws: each model (population of chips) pre-draws a pool of 2^20 standard normals from its own
seeded generator; every output position (one input, one chip, one pixel) reads its columns' noise from a
window of the pool at an offset chosen by a 64-bit xorshift stream. Within a window all values are
independent; two positions share values only when their windows overlap, and then at shifted columns, which
is harmless for Monte Carlo statistics and lets the noise load vectorise like the dot product (a serial
generator per value cost 5x the whole kernel). Each batch row (one input on one chip) has its own offset
stream seeded from (call seed, row), so results do not depend on threading.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; the numpy path stays as a fallback
    numba = None

ENABLED = numba is not None
POOL_BITS = 20
BLOCK = 8  # output positions computed together, so each weight row loaded serves several of them


def make_pool(rng: np.random.Generator, max_cols: int) -> np.ndarray:
    """2^POOL_BITS + max_cols standard normals: the noise every window of `max_cols` columns reads."""
    return rng.standard_normal((1 << POOL_BITS) + max_cols, dtype=np.float32)


def _check(pool: np.ndarray, n: int) -> None:
    if pool.size < (1 << POOL_BITS) + n:
        raise ValueError(f"noise pool of {pool.size} values is too short for {n} columns")


if ENABLED:

    @numba.njit(cache=True, inline="always")
    def _mix(z):  # pragma: no cover - compiled; splitmix64 finaliser: decorrelates neighbouring seeds
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        if z == np.uint64(0):
            z = np.uint64(0x9E3779B97F4A7C15)
        return z

    @numba.njit(cache=True, inline="always")
    def _finish(acc, s_t, pool, st, zp, lo, hi, out_row):  # pragma: no cover - compiled
        st ^= st << np.uint64(13)
        st ^= st >> np.uint64(7)
        st ^= st << np.uint64(17)
        off = np.int64(st >> np.uint64(64 - POOL_BITS))
        n = acc.shape[0]
        for c in range(n):
            q = np.rint(acc[c] + s_t[c] * pool[off + c]) + zp
            if q < lo:
                q = lo
            elif q > hi:
                q = hi
            out_row[c] = np.int8(q)
        return st

    @numba.njit(cache=True, nogil=True, fastmath=True)
    def _conv(xp, wt, b, s, per_chip, zp, lo, hi, kh, kw, sh, sw, dh, dw, pool, seed, out):  # pragma: no cover
        rows, oh, ow, n = out.shape
        cin = xp.shape[3]
        acc = np.empty((BLOCK, n), np.float32)
        for r in range(rows):
            t = r // per_chip
            st = _mix(np.uint64(seed) + np.uint64(r) * np.uint64(0x9E3779B97F4A7C15))
            w_t = wt[t]
            b_t = b[t]
            s_t = s[t]
            for oy in range(oh):
                for ox0 in range(0, ow, BLOCK):
                    nb = min(BLOCK, ow - ox0)
                    for q in range(nb):
                        for c in range(n):
                            acc[q, c] = b_t[c]
                    j = 0
                    for ky in range(kh):
                        y = oy * sh + ky * dh
                        for kx in range(kw):
                            for ci in range(cin):
                                wr = w_t[j]
                                for q in range(nb):
                                    v = np.float32(xp[r, y, (ox0 + q) * sw + kx * dw, ci])
                                    a = acc[q]
                                    for c in range(n):
                                        a[c] += v * wr[c]
                                j += 1
                    for q in range(nb):
                        st = _finish(acc[q], s_t, pool, st, zp, lo, hi, out[r, oy, ox0 + q])

    @numba.njit(cache=True, nogil=True, fastmath=True)
    def _depthwise(xp, wt, b, s, per_chip, zp, lo, hi, sh, sw, dh, dw, dm, pool, seed, out):  # pragma: no cover
        rows, oh, ow, n = out.shape
        kh, kw = wt.shape[1], wt.shape[2]
        acc = np.empty(n, np.float32)
        for r in range(rows):
            t = r // per_chip
            st = _mix(np.uint64(seed) + np.uint64(r) * np.uint64(0x9E3779B97F4A7C15))
            b_t = b[t]
            s_t = s[t]
            for oy in range(oh):
                for ox in range(ow):
                    for c in range(n):
                        acc[c] = b_t[c]
                    for ky in range(kh):
                        y = oy * sh + ky * dh
                        for kx in range(kw):
                            x0 = ox * sw + kx * dw
                            wr = wt[t, ky, kx]
                            if dm == 1:
                                for c in range(n):
                                    acc[c] += np.float32(xp[r, y, x0, c]) * wr[c]
                            else:
                                for ci in range(n // dm):
                                    v = np.float32(xp[r, y, x0, ci])
                                    for j in range(dm):
                                        acc[ci * dm + j] += v * wr[ci * dm + j]
                    st = _finish(acc, s_t, pool, st, zp, lo, hi, out[r, oy, ox])


def conv(xp: np.ndarray, wt: np.ndarray, b: np.ndarray, s: np.ndarray, p: dict, out_hw: tuple[int, int],
         pool: np.ndarray, seed: int) -> np.ndarray:
    """Padded int8 input (T*B, H', W', C); folded weights (T, K, N) with K in (ky, kx, ci) order; offsets and
    noise scales (T, N) -> int8 (T*B, OH, OW, N)."""
    rows = xp.shape[0]
    _check(pool, wt.shape[2])
    out = np.empty((rows, *out_hw, wt.shape[2]), np.int8)
    _conv(xp, wt, b, s, rows // wt.shape[0], p["out_zp"], p["act_min"], p["act_max"], p["kernel_h"],
          p["kernel_w"], p["stride_h"], p["stride_w"], p["dil_h"], p["dil_w"], pool, seed, out)
    return out


def depthwise(xp: np.ndarray, wt: np.ndarray, b: np.ndarray, s: np.ndarray, p: dict, out_hw: tuple[int, int],
              pool: np.ndarray, seed: int) -> np.ndarray:
    """Padded int8 input (T*B, H', W', C); folded weights (T, kh, kw, N) -> int8 (T*B, OH, OW, N)."""
    rows = xp.shape[0]
    _check(pool, wt.shape[3])
    out = np.empty((rows, *out_hw, wt.shape[3]), np.int8)
    _depthwise(xp, wt, b, s, rows // wt.shape[0], p["out_zp"], p["act_min"], p["act_max"], p["stride_h"],
               p["stride_w"], p["dil_h"], p["dil_w"], p["depth_mult"], pool, seed, out)
    return out
