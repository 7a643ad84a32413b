"""MINIMUM lowering: TFLM compares the raw int8 values (its converter gives inputs and output one scale), with
4-D broadcasting; nothing to precompute."""

from __future__ import annotations

import numpy as np

from cimconv.image import Image, OpRec
from cimconv.image_check import _fail, _int8, _recs
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import broadcast_ok, fail, int8, tensor

PARAM_INPUTS: tuple[int, ...] = ()


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    a, b = tensor(graph, op, 0), tensor(graph, op, 1)
    y = tensor(graph, op, 0, output=True)
    int8(op, a, b, y)
    if max(len(a.shape), len(b.shape), len(y.shape)) > 4:
        raise fail(op, "tensors of more than 4 dimensions are not supported")
    broadcast_ok(op, a, b, y)
    return {}


def check_record(img: Image, op: OpRec, at: str) -> None:
    (a, b), y = _recs(img, op, at, (2, 2))
    _int8(at, a, b, y)
    try:
        want = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise _fail(at, f"inputs {list(a.shape)} and {list(b.shape)} do not broadcast") from None
    if tuple(want) != tuple(y.shape) or len(y.shape) > 4:
        raise _fail(at, f"output {list(y.shape)} is not the broadcast shape of the inputs")
