"""Depthwise convolution and its requantization in one compiled pass: int8 in, int8 out, nothing in between.

The `fast` backend's depthwise layers are memory-bound when the sums and the requantization are separate
passes (a float32 accumulator array written and read back per layer, plus the padded copy of the input): this
kernel keeps one output row's accumulators (OW x N int32) in cache, reads the padding as the input zero point
without copying, and requantizes each row as soon as it is summed, with TFLM's integer arithmetic
(`cimsdk.mac.requant`).

Exactness: int8 x int8 products summed in int32 are the exact integer sums while every partial sum stays below
2^31 in magnitude; `fits` checks that per layer from the weights (128 x sum |w| per column), the caller
falls back to the general path where it does not hold. (A mapped depthwise window fits one array's rows, a few
hundred taps, far inside the bound: only a hand-built image reaches the fallback, tests/test_host_fast_path.py.)
"""

from __future__ import annotations

import numpy as np

from cimsdk.mac import exactness
from cimsdk.mac.requant import COMPILED

if COMPILED:
    import numba

    from cimsdk.mac.requant import _row

    @numba.njit(cache=True, nogil=True)
    def _dw(x, w, in_zp, sh, sw, dh, dw, dm, pt, pl, bias, mult, left, right, half, neg, zp, lo, hi,
            out):  # pragma: no cover - compiled
        """out[b, oy, ox, c] = requant(sum_taps x[b, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw, c // dm] * w[ky, kx, c]),
        positions outside the input reading in_zp.

        Each item is first copied into a padded buffer (so no tap needs an edge test). Stride 1 without a multiplier
        (the common case) then runs one flat loop over the output row per three taps of a kernel row, on weights
        repeated along the row; indices are unsigned (numba then skips negative-index wrap-around and the loops
        vectorise)."""
        nb, h, wd, c_in = x.shape
        oh, ow, n = out.shape[1], out.shape[2], out.shape[3]
        kh, kw = w.shape[0], w.shape[1]
        hp = max((oh - 1) * sh + (kh - 1) * dh + 1, pt + h)
        wp = max((ow - 1) * sw + (kw - 1) * dw + 1, pl + wd)
        xp = np.empty((hp, wp, c_in), x.dtype)
        xpf = xp.reshape(xp.size)
        row = ow * n
        acc = np.empty(row, np.int32)
        flat = dm == 1 and (sw == 1 or ow == 1)
        wrow = np.empty(kh * kw * row, np.int32)  # each tap's weights repeated along the output row
        for ky in range(kh):
            for kx in range(kw):
                for ox in range(ow):
                    wrow[(ky * kw + kx) * row + ox * n : (ky * kw + kx) * row + (ox + 1) * n] = w[ky, kx]
        # the requantization's per-column terms, repeated along the row too (one vectorised pass per row)
        terms = np.empty((6, row), np.int64)
        for ox in range(ow):
            for k, t in enumerate((bias, mult, left, right, half, neg)):
                terms[k, ox * n : (ox + 1) * n] = t
        t_b, t_m, t_l, t_r, t_h, t_n = terms[0], terms[1], terms[2], terms[3], terms[4], terms[5]
        step = np.uint64(dw * c_in)  # from one tap of a kernel row to the next in the padded buffer
        ru = np.uint64(row)
        xp[:] = in_zp  # the padding stays: only the inside is copied per item, row by row
        xf = x.reshape(x.size)
        span = np.uint64(wd * c_in)
        for b in range(nb):
            for y in range(h):
                d0 = np.uint64(((pt + y) * wp + pl) * c_in)
                s0 = np.uint64((b * h + y) * wd * c_in)
                for j in range(span):
                    xpf[d0 + j] = xf[s0 + j]
            for oy in range(oh):
                acc[:] = 0
                for ky in range(kh):
                    iy = oy * sh + ky * dh
                    if flat:
                        base = np.uint64(iy * wp * c_in)
                        w0 = np.uint64(ky * kw) * ru
                        kx = 0
                        while kx + 3 <= kw:
                            x0 = base + np.uint64(kx) * step
                            x1 = x0 + step
                            x2 = x1 + step
                            wk = w0 + np.uint64(kx) * ru
                            for j in range(ru):
                                acc[j] += (np.int32(xpf[x0 + j]) * wrow[wk + j] + np.int32(xpf[x1 + j]) * wrow[wk + ru + j]
                                           + np.int32(xpf[x2 + j]) * wrow[wk + ru + ru + j])
                            kx += 3
                        while kx < kw:
                            x0 = base + np.uint64(kx) * step
                            wk = w0 + np.uint64(kx) * ru
                            for j in range(ru):
                                acc[j] += np.int32(xpf[x0 + j]) * wrow[wk + j]
                            kx += 1
                    else:
                        for kx in range(kw):
                            for ox in range(ow):
                                ix = ox * sw + kx * dw
                                o = ox * n
                                for c in range(n):
                                    acc[o + c] += np.int32(xp[iy, ix, c // dm]) * w[ky, kx, c]
                _row(acc, t_b, t_m, t_l, t_r, t_h, t_n, zp, lo, hi, out[b, oy].reshape(row))


    @numba.njit(cache=True, nogil=True)
    def _im2col(x, in_zp, kh, kw, sh, sw, dh, dw, pt, pl, out):  # pragma: no cover - compiled
        """out[b, oy, ox, (ky*kw + kx)*C + c] = x[b, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw, c] (in_zp outside),
        converted to out's dtype as it is gathered; without dilation a window row is one contiguous span."""
        nb, h, wd, c_in = x.shape
        oh, ow = out.shape[1], out.shape[2]
        k = kh * kw * c_in
        xf = x.reshape(x.size)
        of = out.reshape(out.size)
        for b in range(nb):
            for oy in range(oh):
                for ox in range(ow):
                    o0 = ((b * oh + oy) * ow + ox) * k
                    x_left = ox * sw - pl
                    for ky in range(kh):
                        iy = oy * sh - pt + ky * dh
                        r0 = np.uint64(o0 + ky * kw * c_in)
                        if iy < 0 or iy >= h:
                            for j in range(np.uint64(kw * c_in)):
                                of[r0 + j] = in_zp
                            continue
                        if dw == 1:  # taps lo_k..hi_k read inside the row: one span
                            lo_k = min(max(0, -x_left), kw)
                            hi_k = max(min(kw, wd - x_left), lo_k)
                            for j in range(np.uint64(lo_k * c_in)):
                                of[r0 + j] = in_zp
                            x0 = np.uint64(((b * h + iy) * wd + x_left + lo_k) * c_in)
                            s0 = r0 + np.uint64(lo_k * c_in)
                            for j in range(np.uint64((hi_k - lo_k) * c_in)):
                                of[s0 + j] = xf[x0 + j]
                            for j in range(np.uint64(hi_k * c_in), np.uint64(kw * c_in)):
                                of[r0 + j] = in_zp
                        else:
                            for kx in range(kw):
                                ix = x_left + kx * dw
                                t0 = r0 + np.uint64(kx * c_in)
                                if ix >= 0 and ix < wd:
                                    x0 = np.uint64(((b * h + iy) * wd + ix) * c_in)
                                    for c in range(np.uint64(c_in)):
                                        of[t0 + c] = xf[x0 + c]
                                else:
                                    for c in range(np.uint64(c_in)):
                                        of[t0 + c] = in_zp


def im2col(x: np.ndarray, p: dict[str, int], out_hw: tuple[int, int], dtype) -> np.ndarray:
    """A convolution's input rows (B*OH*OW, kh*kw*C), K in (ky, kx, ci) order like `geometry.dense_rows`, gathered
    and converted to `dtype` in one pass (padding read as in_zp, not copied)."""
    k = p["kernel_h"] * p["kernel_w"] * x.shape[3]
    out = np.empty((x.shape[0], *out_hw, k), dtype)
    _im2col(np.ascontiguousarray(x), p["in_zp"], p["kernel_h"], p["kernel_w"], p["stride_h"], p["stride_w"],
            p["dil_h"], p["dil_w"], p["pad_top"], p["pad_left"], out)
    return out.reshape(-1, k)


def fits(weights: np.ndarray) -> bool:
    """Whether int32 sums of int8 inputs over these weights (N, K) are exact, and the kernel is compiled."""
    return COMPILED and exactness.sum_bound(weights) < (1 << 31)


def depthwise_requant(x: np.ndarray, w: np.ndarray, p: dict[str, int], out_hw: tuple[int, int],
                      terms: tuple[np.ndarray, ...], out_dtype=np.int8, out: np.ndarray | None = None) -> np.ndarray:
    """x (B, H, W, C) int8 unpadded, w (kh, kw, N) int32, `terms` the matrix's `requant.column_terms` ->
    (B, OH, OW, N) in `out_dtype` (into `out` when given: a contiguous array of that shape), bit-exact with TFLM's
    depthwise convolution (bias folded as the image has it)."""
    if out is None:
        out = np.empty((x.shape[0], *out_hw, w.shape[2]), out_dtype)
    _dw(np.ascontiguousarray(x), w, np.int32(p["in_zp"]), p["stride_h"], p["stride_w"], p["dil_h"], p["dil_w"],
        p["depth_mult"], p["pad_top"], p["pad_left"], *terms, p["out_zp"], p["act_min"], p["act_max"], out)
    return out


__all__ = ["depthwise_requant", "fits", "im2col"]
