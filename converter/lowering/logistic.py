"""LOGISTIC lowering: TFLM CalculateArithmeticOpDataLogistic for int8 (input in Q4.27) and int16 (16x8: the
16-bit table kernel, `_act16`)."""

from __future__ import annotations

import math

from cimconv.ir import Graph, Operator
from cimconv.lowering._act16 import params16
from cimconv.lowering._cpu_common import f32, fail, int8, tensor
from cimconv.lowering.softmax import calculate_input_radius

PARAM_INPUTS: tuple[int, ...] = ()

INPUT_INTEGER_BITS = 4


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x = tensor(graph, op, 0)
    y = tensor(graph, op, 0, output=True)
    if x.dtype == y.dtype == "int16":
        if x.shape != y.shape:
            raise fail(op, f"input {list(x.shape)} and output {list(y.shape)} must have the same shape")
        return params16(op, x, y, (0,))
    int8(op, x, y)
    if x.shape != y.shape:
        raise fail(op, f"input {list(x.shape)} and output {list(y.shape)} must have the same shape")
    if y.quant.zp != -128:
        raise fail(op, f"output zero point {y.quant.zp}; TFLM's int8 LOGISTIC needs -128 (scale 1/256)")
    real = f32(x.quant.s) * float(1 << (31 - INPUT_INTEGER_BITS))
    q, left_shift = math.frexp(real)
    mult = int(math.floor(q * (1 << 31) + 0.5))  # TfLiteRound, q > 0
    if mult >= 1 << 31:
        raise fail(op, f"input scale {x.quant.s} gives a multiplier outside int32")
    if left_shift > 30 or left_shift < -31:
        raise fail(op, f"input scale {x.quant.s} is outside the range TFLM's LOGISTIC handles")
    radius = calculate_input_radius(INPUT_INTEGER_BITS, left_shift, 31)
    return {"in_zp": x.quant.zp, "input_range_radius": radius, "input_mult": mult,
            "input_left_shift": left_shift}
