"""UNPACK lowering: input 0 cut into its `num` slices along `axis`, each output without that axis, one
STRIDED_SLICE record per output (`_split_common`)."""

from __future__ import annotations

from cimconv.ir import Graph, Operator
from cimconv.lowering import Lowered
from cimconv.lowering._cpu_common import fail, tensor
from cimconv.lowering._split_common import axis_of, pieces


def lower(graph: Graph, op: Operator) -> list[Lowered]:
    x = tensor(graph, op, 0)
    axis = axis_of(graph, op, int(op.options.get("axis", 0)), len(x.shape))
    n = int(op.options.get("num", len(op.outputs)))
    if n != len(op.outputs) or n != x.shape[axis]:
        raise fail(op, f"num {n}: dimension {axis} of input {list(x.shape)} into {len(op.outputs)} outputs")
    return pieces(graph, op, 0, axis, [1] * n, keep_axis=False)
