"""RESIZE_BILINEAR int8 (TFLM reference_ops::ResizeBilinearInteger): source positions on a 10-bit fixed-point
grid, the four neighbours weighted in int64, the 20-bit sum rounded half away from zero and truncated to int8
(TFLM's cast, wrapping where half-pixel extrapolation leaves the range)."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec

ONE = 1 << 10


def _tdiv(a: np.ndarray, b: int) -> np.ndarray:
    """C's integer division (toward zero) for int64 arrays and a positive divisor."""
    return np.sign(a) * (np.abs(a) // b)


def grid(out_size: int, in_size: int, align_corners: bool, half_pixel_centers: bool
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output index: the scaled source position (10 fractional bits) and the lower and upper neighbour."""
    if align_corners and out_size > 1:
        scale = (ONE * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    else:
        scale = (ONE * in_size + out_size // 2) // out_size
    v = np.arange(out_size, dtype=np.int64) * scale
    if half_pixel_centers:
        v = v + scale // 2 - (1 << 9)
    lo = np.maximum(_tdiv(v, ONE), 0)
    hi = np.minimum(_tdiv(v + ONE - 1, ONE), in_size - 1)
    return v, lo, hi


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    x = inputs[0].astype(np.int64)
    align, half = bool(op.params["align_corners"]), bool(op.params["half_pixel_centers"])
    sy, y0, y1 = grid(out_rec.shape[1], x.shape[1], align, half)
    sx, x0, x1 = grid(out_rec.shape[2], x.shape[2], align, half)
    fy = (sy - ONE * y0)[None, :, None, None]  # weight of the upper row, 10 bits
    fx = (sx - ONE * x0)[None, None, :, None]
    acc = (x[:, y0][:, :, x0] * (ONE - fy) * (ONE - fx) + x[:, y1][:, :, x0] * fy * (ONE - fx)
           + x[:, y0][:, :, x1] * (ONE - fy) * fx + x[:, y1][:, :, x1] * fy * fx)
    rounded = _tdiv(acc + np.where(acc > 0, 1 << 19, -(1 << 19)), 1 << 20)
    return rounded.astype(np.int8)  # wraps as TFLM's static_cast does
