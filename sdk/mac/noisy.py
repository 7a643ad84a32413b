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

    @numba.njit(cache=True, inline="always")
    def _next(st):  # pragma: no cover - compiled; one xorshift64 step
        st ^= st << np.uint64(13)
        st ^= st >> np.uint64(7)
        st ^= st << np.uint64(17)
        return st

    @numba.njit(cache=True, inline="always")
    def _finish_span(acc, a0, b, s, c0, n, pool, off, zp, lo, hi, out, o0):  # pragma: no cover - compiled
        """out[o0 + c] = clip(rint(acc[a0 + c] + b[c0 + c] + s[c0 + c] * pool[off + c]) + zp) for c < n (flat,
        unsigned offsets: numba skips negative-index wrap-around and the loop vectorises)."""
        for c in range(n):
            q = np.rint(acc[a0 + c] + b[c0 + c] + s[c0 + c] * pool[off + c]) + zp
            q = min(max(q, lo), hi)
            out[o0 + c] = np.int64(q)  # stored at the output's width (int8, or int16 for an LSTM's gates)

    @numba.njit(cache=True, nogil=True)
    def _finish(acc, b, s, per_chip, pool, seed, zp, lo, hi, out):  # pragma: no cover - compiled
        rows, pos, n = acc.shape
        af = acc.reshape(acc.size)
        of = out.reshape(out.size)
        bf = b.reshape(b.size)
        sf = s.reshape(s.size)
        nu = np.uint64(n)
        for r in range(rows):
            t = np.uint64(r // per_chip)
            st = _mix(np.uint64(seed) + np.uint64(r) * np.uint64(0x9E3779B97F4A7C15))
            for i in range(pos):
                st = _next(st)
                off = st >> np.uint64(64 - POOL_BITS)
                base = (np.uint64(r) * np.uint64(pos) + np.uint64(i)) * nu
                _finish_span(af, base, bf, sf, t * nu, nu, pool, off, np.float32(zp), np.float32(lo),
                             np.float32(hi), of, base)

    @numba.njit(cache=True, nogil=True)
    def _dw_finish(x, w, per_chip, in_zp, sh, sw, dh, dw, dm, pt, pl, b, s, pool, seed, zp, lo, hi,
                   out):  # pragma: no cover - compiled
        """A depthwise layer on each chip's folded weights w (T, kh, kw, N) and the noisy finish, in one pass:
        the same float32 sums tap by tap as `accumulate.depthwise_taps` on the padded input (each item copied
        once into a padded float32 buffer, no padded copy of the batch), the same noise stream per batch row as
        `_finish`; one output row in cache."""
        nb, h, wd, c_in = x.shape
        oh, ow, n = out.shape[1], out.shape[2], out.shape[3]
        kh, kw = w.shape[1], w.shape[2]
        nu = np.uint64(n)
        row = ow * n
        ru = np.uint64(row)
        acc = np.empty(row, np.float32)
        of = out.reshape(out.size)
        bf = b.reshape(b.size)
        sf = s.reshape(s.size)
        flat = dm == 1 and (sw == 1 or ow == 1)
        t_n = w.shape[0]
        wrow = np.empty((t_n, kh, kw, row), np.float32)  # each tap's weights repeated along the output row
        for t in range(t_n):
            for ky in range(kh):
                for kx in range(kw):
                    for ox in range(ow):
                        wrow[t, ky, kx, ox * n : (ox + 1) * n] = w[t, ky, kx]
        wf = wrow.reshape(wrow.size)
        # each item copied once into a padded buffer (padding = in_zp): no tap needs an edge test
        hp = max((oh - 1) * sh + (kh - 1) * dh + 1, pt + h)
        wp = max((ow - 1) * sw + (kw - 1) * dw + 1, pl + wd)
        xp = np.empty((hp, wp, c_in), np.float32)
        xpf = xp.reshape(xp.size)
        xp[:] = np.float32(in_zp)
        xf = x.reshape(x.size)
        span = np.uint64(wd * c_in)
        for r in range(nb):
            t = r // per_chip
            st = _mix(np.uint64(seed) + np.uint64(r) * np.uint64(0x9E3779B97F4A7C15))
            for y in range(h):
                d0 = np.uint64(((pt + y) * wp + pl) * c_in)
                s0 = np.uint64((r * h + y) * wd * c_in)
                for j in range(span):
                    xpf[d0 + j] = np.float32(xf[s0 + j])
            for oy in range(oh):
                acc[:] = 0
                for ky in range(kh):
                    iy = oy * sh + ky * dh
                    for kx in range(kw):  # tap by tap, in the tap kernel's order (the same float32 sums)
                        wk = np.uint64(((t * kh + ky) * kw + kx) * row)
                        if flat:
                            x0 = np.uint64((iy * wp + kx * dw) * c_in)
                            for j in range(ru):
                                acc[j] += xpf[x0 + j] * wf[wk + j]
                        else:
                            for ox in range(ow):
                                ix = ox * sw + kx * dw
                                o = ox * n
                                for c in range(n):
                                    acc[o + c] += xp[iy, ix, c // dm] * wf[wk + np.uint64(o + c)]
                for ox in range(ow):
                    st = _next(st)
                    off = st >> np.uint64(64 - POOL_BITS)
                    base = np.uint64(((r * oh + oy) * ow + ox) * n)
                    _finish_span(acc, np.uint64(ox * n), bf, sf, np.uint64(t) * nu, nu, pool, off, np.float32(zp),
                                 np.float32(lo), np.float32(hi), of, base)


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


def depthwise_finish(x: np.ndarray, w: np.ndarray, p: dict[str, int], out_hw: tuple[int, int], b: np.ndarray,
                     s: np.ndarray, pool: np.ndarray, seed: int, out_dtype=np.int8) -> np.ndarray:
    """x (T*B, H, W, C) int8 unpadded, per chip folded weights w (T, kh, kw, N) float32, offsets and noise scales
    (T, N) -> (T*B, OH, OW, N): `finish(accumulate.depthwise_taps(pad_input(x), w), b, s, ...)` in one compiled
    pass (the same sums and the same noise; needs numba)."""
    n = w.shape[3]
    if pool.size < (1 << POOL_BITS) + n:
        raise ValueError(f"noise pool of {pool.size} values is too short for {n} columns")
    out = np.empty((x.shape[0], *out_hw, n), out_dtype)
    _dw_finish(np.ascontiguousarray(x), np.ascontiguousarray(w, np.float32), x.shape[0] // w.shape[0],
               np.int32(p["in_zp"]), p["stride_h"], p["stride_w"], p["dil_h"], p["dil_w"], p["depth_mult"],
               p["pad_top"], p["pad_left"], b, s, pool, seed, p["out_zp"], p["act_min"], p["act_max"], out)
    return out


__all__ = ["COMPILED", "POOL_BITS", "depthwise_finish", "finish", "make_pool"]
