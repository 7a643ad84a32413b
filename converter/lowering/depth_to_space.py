"""DEPTH_TO_SPACE lowering: the block size; each pixel's channels spread over a block x block patch."""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.ir import Graph, Operator
from cimconv.lowering._space_depth import check_move, lower_move


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    return lower_move(graph, op, to_space=True)


def check_record(img: Image, op: OpRec, at: str) -> None:
    check_move(img, op, at, to_space=True)
