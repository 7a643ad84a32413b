"""PACK lowering: TFLM stacks the inputs' int8 or int16 (16x8) values along a new axis without requantizing (its converter gives
inputs and output one scale, inserting requantizing QUANTIZE ops where they differ); only the axis is kept,
in the output's dimensions. Not along dimension 0 (the batch)."""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.image_check import _fail, _int8_or_int16, _recs
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import fail, int8_or_int16, tensor

PARAM_INPUTS: tuple[int, ...] = ()
MAX_INPUTS = 8  # the firmware runtime's CIM_RT_MAX_INPUTS


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    y = tensor(graph, op, 0, output=True)
    xs = [tensor(graph, op, i) for i in range(len(op.inputs))]
    int8_or_int16(op, y, *xs)
    if not 1 <= len(xs) <= MAX_INPUTS:
        raise fail(op, f"{len(xs)} inputs; 1 to {MAX_INPUTS} are supported")
    rank = len(y.shape)
    if not 2 <= rank <= 4:
        raise fail(op, f"output {list(y.shape)}: only 2-D to 4-D outputs are supported")
    axis = int(op.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if not 1 <= axis < rank:
        raise fail(op, f"axis {op.options.get('axis')}: packing along dimension 0 (the batch dimension) is not "
                       "supported")
    want = tuple(y.shape[:axis]) + tuple(y.shape[axis + 1 :])
    if y.shape[axis] != len(xs) or any(tuple(x.shape) != want for x in xs):
        raise fail(op, f"inputs {[list(x.shape) for x in xs]} do not stack into output {list(y.shape)} at axis {axis}")
    return {"axis": axis}


def check_record(img: Image, op: OpRec, at: str) -> None:
    xs, y = _recs(img, op, at, (1, MAX_INPUTS))
    _int8_or_int16(at, y, *xs)
    axis = op.params["axis"]
    if not 1 <= axis < len(y.shape) <= 4:
        raise _fail(at, f"axis {axis} of a {len(y.shape)}-D output")
    want = tuple(y.shape[:axis]) + tuple(y.shape[axis + 1 :])
    if y.shape[axis] != len(xs) or any(tuple(x.shape) != want for x in xs):
        raise _fail(at, f"inputs {[list(x.shape) for x in xs]} do not stack into {list(y.shape)} at axis {axis}")
