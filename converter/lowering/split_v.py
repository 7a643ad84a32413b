"""SPLIT_V lowering: input 0 cut into pieces of the constant sizes of input 1 (one of them may be -1: the
rest) along the constant axis of input 2, one STRIDED_SLICE record per output (`_split_common`)."""

from __future__ import annotations

from cimconv.ir import Graph, Operator
from cimconv.lowering import Lowered
from cimconv.lowering._cpu_common import const_ints, fail, tensor
from cimconv.lowering._split_common import axis_of, pieces


def lower(graph: Graph, op: Operator) -> list[Lowered]:
    x = tensor(graph, op, 0)
    sizes = [int(s) for s in const_ints(graph, op, 1, "size_splits")]
    (axis,) = const_ints(graph, op, 2, "axis")
    axis = axis_of(graph, op, int(axis), len(x.shape))
    if sizes.count(-1) > 1:
        raise fail(op, f"size_splits {sizes} has more than one -1")
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
    return pieces(graph, op, 0, axis, sizes, keep_axis=True)
