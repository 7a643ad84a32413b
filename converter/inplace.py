"""In-place convolution: how far below its input a CiM convolution's output may start and still be exact.

Every executor of a CiM CONV_2D / DEPTHWISE_CONV_2D walks the output pixels in raster order (batch, row,
column) and writes a pixel's channels only after it has read that pixel's receptive field: the C soft
kernels (`firmware/kernels/cim_soft_conv.c`, `cim_soft_depthwise.c`, `cim_soft_wide.c`), the RTL
coprocessor (`rtl/cim_coprocessor.v`, one im2col window per position), and the emulated coprocessor,
which reads the whole input before it writes. The soft CONV_2D kernel works on pairs of pixels and
writes pixel j+1 while it still reads pixel j's inputs, so the rule here keeps one pixel of margin:

    the bytes of output pixel j lie below every input byte that pixels j-1, j, j+1, ... read.

An output placed `shift` bytes below its input's start (the two overlapping) then never overwrites an
input byte still to be read: the input's dead rows are reused as they are consumed. `shift` is the
smallest such distance; the bytes between the output's start and the input's start act as the line
buffer (about one input row plus a pixel for a 3x3 depthwise layer with stride 1, two pixels for a
1x1 layer that keeps its width, the whole input minus what the output has caught up with for one that
widens it). The planner (`cimconv.planner`) decides whether to use it.
"""

from __future__ import annotations

import numpy as np

from cimconv.ir import Graph
from cimconv.lowering import Lowered

IN_PLACE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def _span_lows(H: int, W: int, C: int, OH: int, OW: int, p: dict[str, int]) -> np.ndarray:
    """Per output pixel (raster order), the lowest input element index its receptive field reads."""
    oy = np.arange(OH)
    ox = np.arange(OW)
    kh, kw = p["kernel_h"], p["kernel_w"]
    rows = oy * p["stride_h"] - p["pad_top"] + np.arange(kh)[:, None] * p["dil_h"]  # (kh, OH)
    cols = ox * p["stride_w"] - p["pad_left"] + np.arange(kw)[:, None] * p["dil_w"]  # (kw, OW)
    inside_r = (rows >= 0) & (rows < H)
    inside_c = (cols >= 0) & (cols < W)
    big = H * W
    first_r = np.where(inside_r, rows, big).min(axis=0)  # first row inside the input, per output row
    first_c = np.where(inside_c, cols, big).min(axis=0)
    low = (first_r[:, None] * W + first_c[None, :]) * C  # (OH, OW); beyond the input if no tap is inside
    low = np.where((first_r[:, None] < big) & (first_c[None, :] < big), low, big * C)
    return low.reshape(-1)


def in_place_shift(graph: Graph, low: Lowered) -> int | None:
    """Bytes the output of `low` must start below its input for an in-place run, or None when the op
    cannot run in place (not a convolution, batch above 1, or an input another op of it also reads)."""
    if not low.cim or low.opcode not in IN_PLACE_OPS or not low.inputs or len(low.outputs) != 1:
        return None
    x, y = graph.tensors[low.inputs[0]], graph.tensors[low.outputs[0]]
    if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != 1 or y.shape[0] != 1:
        return None
    _, H, W, C = x.shape
    _, OH, OW, OC = y.shape
    xe, ye = np.dtype(x.dtype).itemsize, np.dtype(y.dtype).itemsize
    lows = _span_lows(H, W, C, OH, OW, low.params) * xe  # bytes from the input's start
    # what pixels j-1, j, j+1, ... still read: suffix minimum, moved one pixel earlier
    suffix = np.minimum.accumulate(lows[::-1])[::-1]
    needed = np.concatenate([suffix[:1], suffix[:-1]])  # pixel j: min over k >= j-1
    ends = (np.arange(1, OH * OW + 1, dtype=np.int64)) * OC * ye  # end of output pixel j, from the output's start
    return max(0, int((ends - needed).max()))
