"""SLICE lowering: the constant begin folded into params (4-D, right-aligned as TFLM extends shapes); the
sizes (-1: to the end) give the output's shape, which the record carries. Dimension 0 (the batch) is kept."""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.image_check import _fail, _int8, _recs
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import const_ints, fail, int8_or_int16, tensor

PARAM_INPUTS: tuple[int, ...] = (1, 2)


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x = tensor(graph, op, 0)
    y = tensor(graph, op, 0, output=True)
    int8_or_int16(op, x, y)
    rank = len(x.shape)
    if not 1 <= rank <= 4:
        raise fail(op, f"input {list(x.shape)}: only 1-D to 4-D tensors are supported")
    begin = [int(b) for b in const_ints(graph, op, 1, "begin")]
    size = [int(s) for s in const_ints(graph, op, 2, "size")]
    if len(begin) != rank or len(size) != rank:
        raise fail(op, f"begin {begin} and size {size} must have one entry per input dimension ({rank})")
    size = [d - b if s == -1 else s for d, b, s in zip(x.shape, begin, size, strict=True)]
    if any(b < 0 or s < 0 or b + s > d for d, b, s in zip(x.shape, begin, size, strict=True)):
        raise fail(op, f"begin {begin} with size {size} lies outside input {list(x.shape)}")
    if tuple(size) != tuple(y.shape):
        raise fail(op, f"output {list(y.shape)} is not the slice size {size}")
    if begin[0] != 0 or size[0] != x.shape[0]:
        raise fail(op, "slicing along dimension 0 (the batch dimension) is not supported")
    full = [0] * (4 - rank) + begin
    return {f"begin{i}": full[i] for i in range(4)}


def check_record(img: Image, op: OpRec, at: str) -> None:
    (x,), y = _recs(img, op, at, (1, 1))
    if not x.dtype == y.dtype == "int16":  # int8, or int16 (16x8)
        _int8(at, x, y)
    lead = 4 - len(x.shape)
    begin = [op.params[f"begin{i}"] for i in range(4)]
    xd, yd = (1,) * lead + tuple(x.shape), (1,) * (4 - len(y.shape)) + tuple(y.shape)
    if len(y.shape) != len(x.shape) or any(b < 0 or b + o > d for b, o, d in zip(begin, yd, xd, strict=True)) \
            or begin[: lead + 1] != [0] * (lead + 1) or yd[lead] != xd[lead]:
        raise _fail(at, f"slice at {begin} of size {list(y.shape)} does not fit input {list(x.shape)}")
