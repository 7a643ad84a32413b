"""RESHAPE lowering: a copy with the output's shape; the optional shape tensor is folded away."""

from __future__ import annotations

from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import fail, tensor

PARAM_INPUTS: tuple[int, ...] = (1,)


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x = tensor(graph, op, 0)
    y = tensor(graph, op, 0, output=True)
    if x.dtype != y.dtype:
        raise fail(op, f"input is {x.dtype}, output {y.dtype}; RESHAPE must keep the dtype")
    if x.size != y.size:
        raise fail(op, f"input {x.shape} and output {y.shape} differ in element count")
    if len(y.shape) > 4:
        raise fail(op, f"output {y.shape}: more than 4 dimensions are not supported")
    if x.shape[:1] != y.shape[:1]:
        raise fail(op, f"input {x.shape} -> output {y.shape} changes dimension 0 (the batch dimension)")
    return {}
