"""The noisy finish of the `noisy` backend: each chip's offset, Gaussian output noise, rounding and clipping.

The simulator (`cimsdk.sim.analog`) folds the whole digital chain of a chip into effective weights, one offset
b' and one noise scale s' per column (see there); the accumulation runs through the shared kernels
(`cimsdk.mac.accumulate`) and this finish turns a chip's float accumulators into int8:
q = clip(rint(acc + b' + s' z) + zp).

Gaussian draws: each model (population of chips) pre-draws a pool of 2^20 standard normals from its own
seeded generator; every output position (one input, one chip, one pixel) reads its columns' noise from a
window of the pool at an offset chosen by a 64-bit xorshift stream. Within a window all values are
independent; two positions share values only when their windows overlap, and then at shifted columns, which
is harmless for Monte Carlo statistics and vectorises (a serial generator per value cost 5x the whole
kernel). Each batch row (one input on one chip) has its own offset stream seeded from (call seed, row), so
results do not depend on threading.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; numpy stays as the fallback
    numba = None

COMPILED = numba is not None
POOL_BITS = 20


def make_pool(rng: np.random.Generator, max_cols: int) -> np.ndarray:
    """2^POOL_BITS + max_cols standard normals: the noise every window of `max_cols` columns reads."""
    return rng.standard_normal((1 << POOL_BITS) + max_cols, dtype=np.float32)


if COMPILED:

    @numba.njit(cache=True, inline="always")
    def _mix(z):  # pragma: no cover - compiled; splitmix64 finaliser: decorrelates neighbouring seeds
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        if z == np.uint64(0):
            z = np.uint64(0x9E3779B97F4A7C15)
        return z

    @numba.njit(cache=True, nogil=True, fastmath=True)
    def _finish(acc, b, s, per_chip, pool, seed, zp, lo, hi, out):  # pragma: no cover - compiled
        rows, pos, n = acc.shape
        for r in range(rows):
            t = r // per_chip
            st = _mix(np.uint64(seed) + np.uint64(r) * np.uint64(0x9E3779B97F4A7C15))
            b_t = b[t]
            s_t = s[t]
            for i in range(pos):
                st ^= st << np.uint64(13)
                st ^= st >> np.uint64(7)
                st ^= st << np.uint64(17)
                off = np.int64(st >> np.uint64(64 - POOL_BITS))
                a = acc[r, i]
                o = out[r, i]
                for c in range(n):
                    q = np.rint(a[c] + b_t[c] + s_t[c] * pool[off + c]) + zp
                    if q < lo:
                        q = lo
                    elif q > hi:
                        q = hi
                    o[c] = np.int64(q)  # stored at the output's width (int8, or int16 for an LSTM's gates)


def finish(acc: np.ndarray, b: np.ndarray, s: np.ndarray, pool: np.ndarray, seed: int, zp: int, lo: int, hi: int,
           out_dtype=np.int8) -> np.ndarray:
    """acc (T*B, P, N) float32 (T chips, P positions per input), offsets and noise scales (T, N) -> int8 (or
    `out_dtype`: int16 for a FULLY_CONNECTED writing an LSTM's gate pre-activations)."""
    rows, _pos, n = acc.shape
    if pool.size < (1 << POOL_BITS) + n:
        raise ValueError(f"noise pool of {pool.size} values is too short for {n} columns")
    t_n = b.shape[0]
    out = np.empty(acc.shape, out_dtype)
    if COMPILED:
        _finish(np.ascontiguousarray(acc, np.float32), b, s, rows // t_n, pool, seed, zp, lo, hi, out)
        return out
    rng = np.random.default_rng(seed)
    z = pool[rng.integers(0, 1 << POOL_BITS, size=acc.shape[:2])[..., None] + np.arange(n)]
    per = acc.reshape(t_n, rows // t_n, *acc.shape[1:])
    y = per + b[:, None, None, :] + s[:, None, None, :] * z.reshape(per.shape)
    np.clip(np.rint(y) + zp, lo, hi, out=y)
    return y.astype(out_dtype).reshape(acc.shape)


__all__ = ["COMPILED", "POOL_BITS", "finish", "make_pool"]
