"""float32 CPU kernels of float models on a floating-point target (sram-fpcim), bit-equal to the firmware's.

The firmware (rv32imac, no FPU) computes in IEEE float32 through the compiler's soft-float routines, each
operation correctly rounded; these kernels do the same operations in the same order in numpy float32, so
host and device agree in every bit:

- AVERAGE_POOL_2D (TFLM's float AveragePool): the window's valid taps added in (fy, fx) order from 0, the
  sum divided by their count, then the activation clamp (`act_min` / `act_max` hold float32 bits).
- SOFTMAX (TFLM's float Softmax, beta 1): the row maximum, e_i = exp(x_i - max), their sum in order, e_i / sum.
  exp is `expf_neg` below (firmware/kernels/cim_expf.h), not the C library's, so both sides compute the same
  bits: k = floor(d log2(e) + 1/2), r = d - k ln2 (two-part ln2), Cephes' degree-6 polynomial, times 2^k.
"""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec

F = np.float32
LOG2E = F(1.44269504)
LN2_HI = F(0.693359375)
LN2_LO = F(-2.12194440e-4)
POLY = tuple(F(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                            1.6666665459e-1, 5.0000001201e-1))
K_MIN = -125  # below: the result is under float32's normal range; 0


def float_param(v: int) -> np.float32:
    return np.array([v], np.int32).view(np.float32)[0]


def clamp(v: np.ndarray, p: dict[str, int]) -> np.ndarray:
    """min(max(v, lo), hi) with the C kernels' comparisons (v < lo ? lo : v, then v > hi ? hi : v)."""
    lo, hi = float_param(p["act_min"]), float_param(p["act_max"])
    v = np.where(v < lo, lo, v)
    return np.where(v > hi, hi, v).astype(F)


def expf_neg(d: np.ndarray) -> np.ndarray:
    """exp(d) for float32 d <= 0, in the firmware's float32 operations (0 when it underflows)."""
    d = np.asarray(d, F)
    t = d * LOG2E + F(0.5)
    k = np.floor(t)
    k = np.where(np.isfinite(k), k, F(K_MIN - 1)).astype(np.int32)
    k = np.maximum(k, K_MIN - 1)
    kf = k.astype(F)
    r = (d - kf * LN2_HI) - kf * LN2_LO
    z = r * r
    p = np.full_like(r, POLY[0])
    for c in POLY[1:]:
        p = p * r + c
    y = (p * z + r) + F(1.0)
    scale = ((np.maximum(k, K_MIN) + 127).astype(np.uint32) << 23).view(F)
    return np.where(k < K_MIN, F(0.0), y * scale).astype(F)


def average_pool(op: OpRec, x: np.ndarray, out_rec: TensorRec) -> np.ndarray:
    p = op.params
    _b, h, w, _c = x.shape
    oh, ow = out_rec.shape[1], out_rec.shape[2]
    fh, fw, sh, sw = p["filter_h"], p["filter_w"], p["stride_h"], p["stride_w"]
    pt, pl = p["pad_top"], p["pad_left"]
    iy = np.arange(oh)[:, None] * sh - pt + np.arange(fh)[None, :]  # (OH, fh) input rows of each tap
    ix = np.arange(ow)[:, None] * sw - pl + np.arange(fw)[None, :]
    vy, vx = (iy >= 0) & (iy < h), (ix >= 0) & (ix < w)
    iy, ix = np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)
    total = np.zeros((x.shape[0], oh, ow, x.shape[3]), F)
    for fy in range(fh):
        for fx in range(fw):
            tap = x[:, iy[:, fy]][:, :, ix[:, fx]]
            valid = (vy[:, fy][:, None] & vx[:, fx][None, :])[None, :, :, None]
            total = np.where(valid, total + tap, total)
    count = (vy.sum(axis=1)[:, None] * vx.sum(axis=1)[None, :]).astype(F)[None, :, :, None]
    return clamp(total / count, p)


def softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, F)
    top = x.max(axis=-1, keepdims=True)
    e = expf_neg(x - top)
    total = np.zeros(x.shape[:-1], F)
    for i in range(x.shape[-1]):
        total = total + e[..., i]
    return (e / total[..., None]).astype(F)
