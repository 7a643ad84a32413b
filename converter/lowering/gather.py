"""GATHER lowering: constant int32 indices (checked in range at convert time, as TFLM checks them at run time)
stay a const operand of the record; the axis (of the input) is the parameter. TFLM copies the bytes without
requantizing. Not along dimension 0 (the batch), batch_dims 0."""

from __future__ import annotations

import math

from cimconv.image import STORE_CONST, Image, OpRec
from cimconv.image_check import _fail, _int8, _recs
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import fail, int8, tensor

PARAM_INPUTS: tuple[int, ...] = ()


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x, idx = tensor(graph, op, 0), tensor(graph, op, 1)
    y = tensor(graph, op, 0, output=True)
    int8(op, x, y)
    if idx.data is None or idx.dtype != "int32":
        raise fail(op, f"indices {idx.label} are a {idx.dtype} {'tensor' if idx.data is None else 'constant'}; "
                       "constant int32 indices are supported")
    if int(op.options.get("batch_dims", 0)):
        raise fail(op, "batch_dims is not supported")
    rank = len(x.shape)
    axis = int(op.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if not 1 <= axis < rank:
        raise fail(op, f"axis {op.options.get('axis')}: gathering along dimension 0 (the batch dimension) is not "
                       "supported")
    if (idx.data < 0).any() or (idx.data >= x.shape[axis]).any():
        raise fail(op, f"indices outside [0, {x.shape[axis]}) of axis {axis}")
    want = tuple(x.shape[:axis]) + tuple(idx.shape) + tuple(x.shape[axis + 1 :])
    if want != tuple(y.shape) or len(y.shape) > 4:
        raise fail(op, f"output {list(y.shape)} is not {list(want)} (up to 4-D)")
    return {"axis": axis}


def check_record(img: Image, op: OpRec, at: str) -> None:
    (x, idx), y = _recs(img, op, at, (2, 2))
    _int8(at, x, y)
    axis = op.params["axis"]
    if idx.dtype != "int32" or idx.storage != STORE_CONST or not 1 <= axis < len(x.shape) <= 4:
        raise _fail(at, f"indices must be a constant int32 tensor and axis {axis} inside the input")
    values = img.const_array(op.inputs[1])
    if (values < 0).any() or (values >= x.shape[axis]).any():
        raise _fail(at, f"indices outside [0, {x.shape[axis]})")
    if math.prod(y.shape) != math.prod(x.shape) // x.shape[axis] * idx.nbytes // 4:
        raise _fail(at, f"output {list(y.shape)} does not hold the gathered slices")
