"""SPACE_TO_DEPTH lowering: the block size; each block x block patch gathered into one pixel's channels."""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.ir import Graph, Operator
from cimconv.lowering._space_depth import check_move, lower_move


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    return lower_move(graph, op, to_space=False)


def check_record(img: Image, op: OpRec, at: str) -> None:
    check_move(img, op, at, to_space=False)
