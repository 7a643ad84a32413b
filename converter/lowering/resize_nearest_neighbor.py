"""RESIZE_NEAREST_NEIGHBOR lowering: the flags of TFLM's source-pixel rule (GetNearestNeighbor, float32
arithmetic the kernels repeat). int8 or int16 (16x8) values are copied, not requantized (TFLM's converter gives input and output one
scale)."""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.ir import Graph, Operator
from cimconv.lowering._resize import check_resize, lower_resize

PARAM_INPUTS: tuple[int, ...] = (1,)


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    return lower_resize(graph, op, int16=True)


def check_record(img: Image, op: OpRec, at: str) -> None:
    check_resize(img, op, at, int16=True)
