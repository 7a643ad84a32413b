"""Shared checks of the one-input elementwise CPU ops (RELU, RELU6, LEAKY_RELU): lowering and record checks."""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.image_check import _fail, _int8, _recs
from cimconv.ir import Graph, Operator, Tensor
from cimconv.lowering._cpu_common import fail, int8, tensor


def io(graph: Graph, op: Operator) -> tuple[Tensor, Tensor]:
    """The int8 input and output of an elementwise op, same shape."""
    x, y = tensor(graph, op, 0), tensor(graph, op, 0, output=True)
    int8(op, x, y)
    if tuple(x.shape) != tuple(y.shape):
        raise fail(op, f"input {list(x.shape)} and output {list(y.shape)} must have the same shape")
    return x, y


def check_io(img: Image, op: OpRec, at: str) -> None:
    (x,), y = _recs(img, op, at, (1, 1))
    _int8(at, x, y)
    if x.shape != y.shape:
        raise _fail(at, f"input {list(x.shape)} and output {list(y.shape)} differ")
