"""SPLIT lowering: input 1 cut into `num_splits` equal pieces along the constant axis of input 0, one
STRIDED_SLICE record per output (`_split_common`)."""

from __future__ import annotations

from cimconv.ir import Graph, Operator
from cimconv.lowering import Lowered
from cimconv.lowering._cpu_common import const_ints, fail, tensor
from cimconv.lowering._split_common import axis_of, pieces


def lower(graph: Graph, op: Operator) -> list[Lowered]:
    x = tensor(graph, op, 1)
    (axis,) = const_ints(graph, op, 0, "axis")
    axis = axis_of(graph, op, int(axis), len(x.shape))
    n = int(op.options.get("num_splits", len(op.outputs)))
    if n != len(op.outputs) or n < 1 or x.shape[axis] % n:
        raise fail(op, f"{n} splits of dimension {axis} ({x.shape[axis]}) into {len(op.outputs)} outputs")
    return pieces(graph, op, 1, axis, [x.shape[axis] // n] * n, keep_axis=True)
