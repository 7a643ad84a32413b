"""RELU6 lowering: TFLM's int8 and int16 Relu6 clamp the raw input codes between the input's zero point and 6.0 in
the input's quantization (FloatToQuantizedType: roundf(6 / scale) + zero point, saturated); no rescaling."""

from __future__ import annotations

import math

import numpy as np

from cimconv.image import Image, OpRec
from cimconv.image_check import ZP_RANGE, _in_range
from cimconv.ir import Graph, Operator
from cimconv.lowering._elementwise import check_io, io

PARAM_INPUTS: tuple[int, ...] = ()


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x, _ = io(graph, op)
    lo, hi = ZP_RANGE[x.dtype]
    with np.errstate(over="ignore", divide="ignore"):
        q = np.float32(6.0) / np.float32(x.quant.s)  # float division, as TFLM
    # std::round rounds half away from zero (numpy's round is half to even)
    six = int(math.copysign(math.floor(abs(float(q)) + 0.5), q)) + x.quant.zp if abs(q) < 2**31 else hi
    return {"zero": x.quant.zp, "six": min(hi, max(lo, six))}


def check_record(img: Image, op: OpRec, at: str) -> None:
    lo, hi = check_io(img, op, at)
    _in_range(at, op.params, lo, hi, "zero", "six")
