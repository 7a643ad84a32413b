"""STRIDED_SLICE lowering: TFLite's begin/end/stride/mask semantics (the same function constant folding uses,
`cimconv.fold.strided_slice_index`) evaluated at convert time into a start, step and count per axis (4-D,
right-aligned); shrunk axes are counted once and leave the output's shape. Dimension 0 (the batch) is kept."""

from __future__ import annotations

import math

from cimconv.fold import strided_slice_index
from cimconv.image import Image, OpRec
from cimconv.image_check import _fail, _int8, _recs
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import const_ints, fail, int8_or_int16, tensor

PARAM_INPUTS: tuple[int, ...] = (1, 2, 3)
NAMES = [f"{what}{i}" for what in ("start", "step", "count") for i in range(4)]


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x = tensor(graph, op, 0)
    y = tensor(graph, op, 0, output=True)
    int8_or_int16(op, x, y)
    rank = len(x.shape)
    if not 1 <= rank <= 4:
        raise fail(op, f"input {list(x.shape)}: only 1-D to 4-D tensors are supported")
    if op.options.get("ellipsis_mask") or op.options.get("new_axis_mask"):
        raise fail(op, "ellipsis and new-axis masks are not supported")
    begin, end, strides = (const_ints(graph, op, i, what) for i, what in ((1, "begin"), (2, "end"), (3, "strides")))
    if not len(begin) == len(end) == len(strides) <= rank or (strides == 0).any():
        raise fail(op, "begin, end and strides must have one entry per sliced dimension and non-zero strides")
    index, keep = strided_slice_index(tuple(x.shape), begin, end, strides, op.options)
    if tuple(keep) != tuple(y.shape):
        raise fail(op, f"output {list(y.shape)} is not the slice's shape {keep}")
    if list(index[0]) != list(range(x.shape[0])) or op.options.get("shrink_axis_mask", 0) & 1:
        raise fail(op, "slicing along dimension 0 (the batch dimension) is not supported")
    lead = 4 - rank
    start, step, count = [0] * lead, [1] * lead, [1] * lead
    for i, idx in enumerate(index):
        start.append(int(idx[0]))
        step.append(int(strides[i]) if i < len(strides) else 1)
        count.append(len(idx))
    return dict(zip(NAMES, start + step + count, strict=True))


def check_record(img: Image, op: OpRec, at: str) -> None:
    (x,), y = _recs(img, op, at, (1, 1))
    if not x.dtype == y.dtype == "int16":  # int8, or int16 (16x8)
        _int8(at, x, y)
    lead = 4 - len(x.shape)
    dims = (1,) * lead + tuple(x.shape)
    p = op.params
    for d in range(4):
        start, step, count = p[f"start{d}"], p[f"step{d}"], p[f"count{d}"]
        last = start + (count - 1) * step
        if count < 1 or step == 0 or not (0 <= start < dims[d] and 0 <= last < dims[d]) \
                or (d <= lead and (start, step, count) != (0, 1, dims[d])):
            raise _fail(at, f"axis {d}: start {start}, step {step}, count {count} do not fit input {list(x.shape)}")
    if math.prod(p[f"count{d}"] for d in range(4)) != math.prod(y.shape) or y.shape[:1] != x.shape[:1]:
        raise _fail(at, f"output {list(y.shape)} does not hold the slice")
