"""Shared checks of the one-input elementwise CPU ops (RELU, RELU6, LEAKY_RELU; int8, or int16 in TFLM's 16x8
mode): lowering and record checks."""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.image_check import _dtype_range, _fail, _int8_or_int16, _recs
from cimconv.ir import Graph, Operator, Tensor
from cimconv.lowering._cpu_common import fail, int8_or_int16, tensor


def io(graph: Graph, op: Operator) -> tuple[Tensor, Tensor]:
    """The input and output of an elementwise op, both int8 or both int16, same shape."""
    x, y = tensor(graph, op, 0), tensor(graph, op, 0, output=True)
    int8_or_int16(op, x, y)
    if tuple(x.shape) != tuple(y.shape):
        raise fail(op, f"input {list(x.shape)} and output {list(y.shape)} must have the same shape")
    return x, y


def check_io(img: Image, op: OpRec, at: str) -> tuple[int, int]:
    """The record's shapes and types; returns the value range of its dtype."""
    (x,), y = _recs(img, op, at, (1, 1))
    dtype = _int8_or_int16(at, x, y)
    if x.shape != y.shape:
        raise _fail(at, f"input {list(x.shape)} and output {list(y.shape)} differ")
    return _dtype_range(dtype)
