"""CONCATENATION lowering: TFLM copies int8 (or int16, 16x8) values without requantizing, so only the axis is kept."""

from __future__ import annotations

from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import fail, int8_or_int16, tensor

PARAM_INPUTS: tuple[int, ...] = ()

MAX_INPUTS = 10  # TFLM kMaxInputNum


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    y = tensor(graph, op, 0, output=True)
    xs = [tensor(graph, op, i) for i in range(len(op.inputs))]
    int8_or_int16(op, y, *xs)
    if not 1 <= len(xs) <= MAX_INPUTS:
        raise fail(op, f"{len(xs)} inputs; TFLM concatenates 1 to {MAX_INPUTS}")
    act = op.options.get("fused_activation_function", "NONE") or "NONE"
    if act != "NONE":
        raise fail(op, f"fused activation {act}; TFLM's CONCATENATION takes none")
    rank = len(y.shape)
    if rank > 4 or rank < 1:
        raise fail(op, f"output {y.shape}: only 1-D to 4-D tensors are supported")
    axis = int(op.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise fail(op, f"axis {op.options.get('axis')} is out of range for a {rank}-D output")
    if axis == 0:
        raise fail(op, "concatenation along dimension 0 (the batch dimension) is not supported")
    for x in xs:
        if len(x.shape) != rank or any(x.shape[d] != y.shape[d] for d in range(rank) if d != axis):
            raise fail(op, f"input {x.shape} does not fit output {y.shape} along axis {axis}")
    if sum(x.shape[axis] for x in xs) != y.shape[axis]:
        raise fail(op, f"inputs do not add up to output {y.shape} along axis {axis}")
    return {"axis": axis}
