"""In-place convolution: how far from its input a CiM convolution's output may start and still be exact.

Every executor of a CiM CONV_2D / DEPTHWISE_CONV_2D walks the output pixels in raster order (batch, row,
column) and writes a pixel's channels only after it has started reading that pixel's receptive field:
the C soft kernels (`firmware/kernels/cim_soft_conv.c`, `cim_soft_depthwise.c`, `cim_soft_wide.c`), the
RTL coprocessor (`rtl/cim_coprocessor.v`, one im2col window per position), and the emulated coprocessor,
which reads the whole input before it writes. The soft CONV_2D kernel works on pairs of pixels and
writes pixel j+1 while it still reads pixel j's inputs, so the rule here keeps one pixel of margin:

    walking forward, the bytes of output pixel j lie below every input byte that pixels j-1, j, j+1, ...
    read; an op flagged `CIMG_OPF_REVERSE` walks its pixels last to first, and then they lie above every
    input byte that pixels j+1, j, j-1, ... read.

An output placed `down` bytes below its input's start (forward) or `up` bytes above it (backward), the
two overlapping, then never overwrites an input byte still to be read: the input's consumed rows are
reused as the output grows. The bytes between the two starts act as the line buffer (about one input row
plus two pixels for a 3x3 depthwise layer with stride 1, two pixels for a 1x1 layer that keeps its
width). Alternating the two directions keeps a chain of in-place layers from drifting through the
arena. The planner (`cimconv.planner`) decides where to use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimconv.ir import Graph
from cimconv.lowering import Lowered

IN_PLACE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")
IN_PLACE_DTYPES = ("int8", "int16")  # the kernels whose order the rule above describes
BACKWARD_DTYPES = ("int8",)  # the 16x8 soft kernels (cim_soft_wide.c) walk forward only


@dataclass(frozen=True)
class Shifts:
    """How an op may overlap its input. `down`: walking forward, the output starts at least this many bytes
    below the input's start. `up`: walking backward (op flag `CIMG_OPF_REVERSE`), the output starts at least
    this many bytes above it; None where the executors cannot walk backward (the RTL coprocessor)."""

    down: int
    up: int | None


def _field_bounds(H: int, W: int, C: int, OH: int, OW: int, p: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per output pixel (raster order), the first input element its receptive field reads and one past the last
    (an empty field, all padding: first beyond the input, last 0)."""
    oy = np.arange(OH)
    ox = np.arange(OW)
    rows = oy * p["stride_h"] - p["pad_top"] + np.arange(p["kernel_h"])[:, None] * p["dil_h"]  # (kh, OH)
    cols = ox * p["stride_w"] - p["pad_left"] + np.arange(p["kernel_w"])[:, None] * p["dil_w"]  # (kw, OW)
    in_r = (rows >= 0) & (rows < H)
    in_c = (cols >= 0) & (cols < W)
    r0, r1 = np.where(in_r, rows, H * W).min(axis=0), np.where(in_r, rows, -1).max(axis=0)
    c0, c1 = np.where(in_c, cols, H * W).min(axis=0), np.where(in_c, cols, -1).max(axis=0)
    empty = (r1[:, None] < 0) | (c1[None, :] < 0)
    first = np.where(empty, H * W * C, (r0[:, None] * W + c0[None, :]) * C)
    last = np.where(empty, 0, (r1[:, None] * W + c1[None, :] + 1) * C)
    return first.reshape(-1), last.reshape(-1)


def in_place_shifts(graph: Graph, low: Lowered, backward: bool = True) -> Shifts | None:
    """How far `low`'s output must start below (walking forward) or above (walking backward) its input for
    an in-place run; None when it cannot run in place (not a convolution, a batch above 1, another dtype).
    backward: the target's executors can walk an op's pixels last to first."""
    if not low.cim or low.opcode not in IN_PLACE_OPS or not low.inputs or len(low.outputs) != 1:
        return None
    x, y = graph.tensors[low.inputs[0]], graph.tensors[low.outputs[0]]
    if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != 1 or y.shape[0] != 1:
        return None
    if x.dtype not in IN_PLACE_DTYPES or y.dtype not in IN_PLACE_DTYPES:
        return None
    _, H, W, C = x.shape
    _, OH, OW, OC = y.shape
    xe, ye = np.dtype(x.dtype).itemsize, np.dtype(y.dtype).itemsize
    first, last = _field_bounds(H, W, C, OH, OW, low.params)
    first, last = first * xe, last * xe  # bytes from the input's start
    starts = np.arange(OH * OW, dtype=np.int64) * OC * ye  # output pixel j, from the output's start
    ends = starts + OC * ye
    # forward: what pixels j-1, j, j+1, ... still read (suffix minimum, one pixel earlier)
    suffix = np.minimum.accumulate(first[::-1])[::-1]
    needed_lo = np.concatenate([suffix[:1], suffix[:-1]])
    down = max(0, int((ends - needed_lo).max()))
    if not backward or x.dtype not in BACKWARD_DTYPES:
        return Shifts(down, None)
    # backward: what pixels j+1, j, j-1, ... still read (prefix maximum, one pixel later)
    prefix = np.maximum.accumulate(last)
    needed_hi = np.concatenate([prefix[1:], prefix[-1:]])
    up = max(0, int((needed_hi - starts).max()))
    return Shifts(down, up)
