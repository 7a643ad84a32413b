"""AVERAGE_POOL_2D (int8, int16): TFLM reference_integer_ops::AveragePool, window sums over valid positions
divided by their count with rounding half away from zero, then clamped."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.kernels import _float


def _counts(size: int, out: int, filt: int, stride: int, pad: int) -> np.ndarray:
    """Valid filter taps per output position along one axis."""
    origin = np.arange(out) * stride - pad
    start = np.maximum(0, -origin)
    end = np.minimum(filt, size - origin)
    return np.maximum(end - start, 0)


def window_reduce(x: np.ndarray, p: dict[str, int], out_hw: tuple[int, int], fill: int, reduce) -> np.ndarray:
    """Apply `reduce(acc, slice)` over filter taps: (B, H, W, C) -> (B, OH, OW, C)."""
    b, h, w, c = x.shape
    oh, ow = out_hw
    fh, fw, sh, sw = p["filter_h"], p["filter_w"], p["stride_h"], p["stride_w"]
    pt, pl = p["pad_top"], p["pad_left"]
    need_h = (oh - 1) * sh + fh
    need_w = (ow - 1) * sw + fw
    pb, pr = max(need_h - h - pt, 0), max(need_w - w - pl, 0)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill) if (pt or pb or pl or pr) else x
    acc = None
    for fy in range(fh):
        for fx in range(fw):
            tap = xp[:, fy : fy + (oh - 1) * sh + 1 : sh, fx : fx + (ow - 1) * sw + 1 : sw, :]
            acc = reduce(acc, tap)
    return acc


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    p = op.params
    x = inputs[0]
    if x.dtype == np.float32:  # a float model on a floating-point target (sram-fpcim)
        return _float.average_pool(op, x, out_rec)
    b, h, w, c = x.shape
    oh, ow = out_rec.shape[1], out_rec.shape[2]
    fh, fw = p["filter_h"], p["filter_w"]
    if oh == 1 and ow == 1 and p["pad_top"] == 0 and p["pad_left"] == 0:
        acc = x[:, :fh, :fw, :].sum(axis=(1, 2), dtype=np.int32)[:, None, None, :]
    else:
        wide = np.int16 if fh * fw <= 256 and x.dtype == np.int8 else np.int32  # |sum| <= 128 * taps (int8)
        acc = window_reduce(x, p, (oh, ow), 0,
                            lambda a, t: t.astype(wide) if a is None else np.add(a, t, out=a))
        acc = acc.astype(np.int32)
    cnt = (_counts(h, oh, fh, p["stride_h"], p["pad_top"])[:, None]
           * _counts(w, ow, fw, p["stride_w"], p["pad_left"])[None, :])
    cnt = np.maximum(cnt, 1)[None, :, :, None].astype(np.float64)  # TFLM fails on empty windows
    half = np.floor(cnt / 2)
    # C: acc > 0 ? (acc + half) / cnt : (acc - half) / cnt, truncating; i.e. the sign times
    # floor((|acc| + half) / cnt). Float64 division of integers below 2^31 floors exactly.
    mag = np.floor((np.abs(acc) + half) / cnt)
    out = np.where(acc > 0, mag, -mag)
    return np.clip(out, p["act_min"], p["act_max"]).astype(x.dtype)
