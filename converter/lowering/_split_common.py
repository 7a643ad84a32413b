"""SPLIT, SPLIT_V and UNPACK: one input cut into pieces along one axis, each piece one output.

TFLM copies each piece's bytes (no requantization: its converter gives the outputs the input's scale), which
is what a STRIDED_SLICE record with unit steps does; so each output becomes its own STRIDED_SLICE record
(Vela splits these ops the same way), and the firmware needs no multi-output kernel. An output nothing
reads (and that is not a model output) gets no record.
"""

from __future__ import annotations

from cimconv.ir import Graph, Operator
from cimconv.lowering import Lowered
from cimconv.lowering._cpu_common import fail, int8_or_int16, tensor
from cimconv.lowering.strided_slice import NAMES


def _read(graph: Graph, t: int) -> bool:
    return t in graph.outputs or any(t in o.inputs for o in graph.operators)


def pieces(graph: Graph, op: Operator, x_pos: int, axis: int, sizes: list[int], keep_axis: bool) -> list[Lowered]:
    """STRIDED_SLICE records cutting input `x_pos` into `sizes` along `axis` (already checked >= 0); the
    outputs drop the axis when not `keep_axis` (UNPACK)."""
    x = tensor(graph, op, x_pos)
    ys = [tensor(graph, op, i, output=True) for i in range(len(op.outputs))]
    int8_or_int16(op, x, *ys)
    rank = len(x.shape)
    if not 2 <= rank <= 4:
        raise fail(op, f"input {list(x.shape)}: only 2-D to 4-D inputs are supported")
    if not 1 <= axis < rank:
        raise fail(op, "splitting along dimension 0 (the batch dimension) is not supported")
    if len(sizes) != len(ys) or sum(sizes) != x.shape[axis] or min(sizes) < 1:
        raise fail(op, f"pieces {sizes} do not cut dimension {axis} of input {list(x.shape)} into {len(ys)} outputs")
    lead = 4 - rank
    parts, start = [], 0
    for y, t, size in zip(ys, op.outputs, sizes, strict=True):
        want = list(x.shape)
        want[axis] = size
        if not keep_axis:
            del want[axis]
        if list(y.shape) != want:
            raise fail(op, f"output {y.label} is {list(y.shape)}, not the piece's shape {want}")
        starts, counts = [0] * 4, [1] * lead + list(x.shape)
        starts[lead + axis], counts[lead + axis] = start, size
        params = dict(zip(NAMES, starts + [1] * 4 + counts, strict=True))
        if _read(graph, t):
            parts.append(Lowered("STRIDED_SLICE", [op.inputs[x_pos]], [t], params, None, op.index))
        start += size
    return parts


def axis_of(graph: Graph, op: Operator, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise fail(op, f"axis {axis} is out of range for a {rank}-D input")
    return axis + rank if axis < 0 else axis
