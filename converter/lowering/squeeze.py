"""SQUEEZE lowering: TFLM copies the bytes under the output's shape, which is what RESHAPE does; the op runs
as a RESHAPE record (planned in place when it can be)."""

from __future__ import annotations

from cimconv.ir import Graph, Operator
from cimconv.lowering import Lowered
from cimconv.lowering import reshape as _reshape


def lower(graph: Graph, op: Operator) -> Lowered:
    _reshape.lower(graph, op)  # same dtype and size, at most 4-D, dimension 0 (the batch) kept
    return Lowered("RESHAPE", [op.inputs[0]], list(op.outputs), {}, None, op.index)
