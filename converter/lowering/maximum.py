"""MAXIMUM lowering: TFLM compares the raw int8 (or 16x8 int16) values (its converter gives inputs and output one scale), with
4-D broadcasting; nothing to precompute."""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.image_check import binary_shapes
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import broadcast_ok, fail, int8_or_int16, tensor

PARAM_INPUTS: tuple[int, ...] = ()


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    a, b = tensor(graph, op, 0), tensor(graph, op, 1)
    y = tensor(graph, op, 0, output=True)
    int8_or_int16(op, a, b, y)
    if max(len(a.shape), len(b.shape), len(y.shape)) > 4:
        raise fail(op, "tensors of more than 4 dimensions are not supported")
    broadcast_ok(op, a, b, y)
    return {}


def check_record(img: Image, op: OpRec, at: str) -> None:
    binary_shapes(img, op, at, int16=True)
