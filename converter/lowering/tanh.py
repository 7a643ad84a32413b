"""TANH lowering (int16, 16x8: the 16-bit table kernel, `_act16`): TFLM's int8 Prepare (input rescaled to Q4.27: scale x 2^27 in double, frexp, radius beyond
which the output saturates), the same arithmetic as LOGISTIC's. TFLM's kernel writes codes of scale 1/128
and zero point 0 whatever the output tensor says, and so does this one."""

from __future__ import annotations

import math

from cimconv.image import Image, OpRec
from cimconv.image_check import I8_MAX, I8_MIN, _fail, _in_range, _recs
from cimconv.ir import Graph, Operator
from cimconv.lowering._act16 import params16
from cimconv.lowering._cpu_common import f32, fail, tensor
from cimconv.lowering._elementwise import check_io, io
from cimconv.lowering.softmax import calculate_input_radius

PARAM_INPUTS: tuple[int, ...] = ()
INPUT_INTEGER_BITS = 4


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x16, y16 = tensor(graph, op, 0), tensor(graph, op, 0, output=True)
    if x16.dtype == y16.dtype == "int16":
        if x16.shape != y16.shape:
            raise fail(op, f"input {list(x16.shape)} and output {list(y16.shape)} must have the same shape")
        return params16(op, x16, y16, (0, 1))
    x, _ = io(graph, op)
    q, left_shift = math.frexp(f32(x.quant.s) * float(1 << (31 - INPUT_INTEGER_BITS)))
    mult = int(math.floor(q * (1 << 31) + 0.5))  # TfLiteRound, q > 0
    if mult >= 1 << 31 or not -31 <= left_shift <= 30:
        raise fail(op, f"input scale {x.quant.s:g} is outside the range TFLM's TANH handles")
    return {"in_zp": x.quant.zp, "input_range_radius": calculate_input_radius(INPUT_INTEGER_BITS, left_shift, 31),
            "input_mult": mult, "input_left_shift": left_shift}


def check_record(img: Image, op: OpRec, at: str) -> None:
    p = op.params
    (x,), y = _recs(img, op, at, (1, 1))
    if x.dtype == y.dtype == "int16":  # 16x8
        if x.shape != y.shape:
            raise _fail(at, f"input {list(x.shape)} and output {list(y.shape)} differ")
        _in_range(at, p, 0, 0, "in_zp", "input_range_radius")
        _in_range(at, p, 0, 32767, "input_mult")
        _in_range(at, p, 0, 31, "input_left_shift")
        return
    check_io(img, op, at)
    _in_range(at, p, I8_MIN, I8_MAX, "in_zp")
    _in_range(at, p, 0, (1 << 31) - 1, "input_range_radius", "input_mult")
    _in_range(at, p, -31, 30, "input_left_shift")
