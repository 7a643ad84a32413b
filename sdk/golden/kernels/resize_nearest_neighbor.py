"""RESIZE_NEAREST_NEIGHBOR int8 or int16 (TFLM reference_ops::ResizeNearestNeighbor): each output pixel copies the
input pixel GetNearestNeighbor picks per axis, in TFLM's float32 arithmetic."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec


def source_index(out_size: int, in_size: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """The input index of each output index: float32 scale and product as TFLM forms them, then floor (or
    round half away from zero with align_corners), clamped to the input."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel_centers else f32(0.0)
    p = (np.arange(out_size, dtype=np.float32) + offset) * scale  # float32 throughout, p >= 0
    # round(p) for p >= 0: floor(p + 0.5) in double (exact for a float32 p), not in float32
    idx = np.floor(p.astype(np.float64) + 0.5) if align_corners else np.floor(p)
    idx = np.minimum(idx.astype(np.int64), in_size - 1)
    return np.maximum(idx, 0) if half_pixel_centers else idx


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    x = inputs[0]
    align, half = bool(op.params["align_corners"]), bool(op.params["half_pixel_centers"])
    rows = source_index(out_rec.shape[1], x.shape[1], align, half)
    cols = source_index(out_rec.shape[2], x.shape[2], align, half)
    return x[:, rows][:, :, cols]
