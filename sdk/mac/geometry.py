"""Where a CiM op reads its inputs: padding filled with the input zero point, and windows as strided views.

Shared by every backend of the multiply-accumulate family (see `cimsdk.mac`): the tile-by-tile and fast exact
backends, the noisy simulator and its calibration all gather the same windows.
"""

from __future__ import annotations

import numpy as np


def pad_input(x: np.ndarray, p: dict[str, int], out_hw: tuple[int, int]) -> np.ndarray:
    """The input with the padding the op reads filled with in_zp (so folded biases stay exact)."""
    _b, h, w, _c = x.shape
    oh, ow = out_hw
    pt, pl = p["pad_top"], p["pad_left"]
    need_h = (oh - 1) * p["stride_h"] + (p["kernel_h"] - 1) * p["dil_h"] + 1
    need_w = (ow - 1) * p["stride_w"] + (p["kernel_w"] - 1) * p["dil_w"] + 1
    pb = max(need_h - h - pt, 0)
    pr = max(need_w - w - pl, 0)
    if pt or pb or pl or pr:
        return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=p["in_zp"])
    return x


def gather_windows(x: np.ndarray, p: dict[str, int], out_hw: tuple[int, int]) -> np.ndarray:
    """Input windows (B, OH, OW, kh, kw, C), a strided view of the padded input."""
    xp = pad_input(x, p, out_hw)
    b, c = x.shape[0], x.shape[3]
    oh, ow = out_hw
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, shape=(b, oh, ow, p["kernel_h"], p["kernel_w"], c),
        strides=(s[0], s[1] * p["stride_h"], s[2] * p["stride_w"], s[1] * p["dil_h"], s[2] * p["dil_w"], s[3]),
        writeable=False)


def is_pointwise(p: dict[str, int], in_hw: tuple[int, int], out_hw: tuple[int, int]) -> bool:
    """A 1x1 stride-1 convolution reading every pixel once: its rows are the input pixels themselves."""
    return p["kernel_h"] == p["kernel_w"] == p["stride_h"] == p["stride_w"] == 1 and in_hw == out_hw


def dense_rows(opcode: str, x: np.ndarray, p: dict[str, int], rows: int, out_hw: tuple[int, int] | None,
               dtype: type | None = None) -> np.ndarray:
    """The (M, K) input rows of a dense op (FULLY_CONNECTED, CONV_2D im2col), K in (ky, kx, ci) order;
    with `dtype`, converted in the same pass that gathers them."""
    if opcode == "FULLY_CONNECTED" or is_pointwise(p, x.shape[1:3], out_hw):
        x = x.reshape(-1, rows)
        return x if dtype is None else x.astype(dtype)
    rows_i8 = np.ascontiguousarray(gather_windows(x, p, out_hw)).reshape(-1, rows)
    # (copying the int8 view, then converting, is ~5x faster than converting the strided view in one go)
    return rows_i8 if dtype is None else rows_i8.astype(dtype)


def depthwise_windows(x: np.ndarray, p: dict[str, int], out_hw: tuple[int, int]) -> np.ndarray:
    """(M, kh*kw, N) windows of a depthwise op, one column per output channel (depth multiplier expanded)."""
    win = gather_windows(x, p, out_hw)
    win = win.reshape(-1, p["kernel_h"] * p["kernel_w"], win.shape[-1])
    if p["depth_mult"] > 1:
        win = np.repeat(win, p["depth_mult"], axis=2)
    return win


__all__ = ["dense_rows", "depthwise_windows", "gather_windows", "is_pointwise", "pad_input"]
