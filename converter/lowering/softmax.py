"""SOFTMAX lowering: TFLM CalculateSoftmaxParams for int8 -> int8 or int16 (PreprocessSoftmaxScaling, input radius),
and for int16 -> int16 (TFLM's 16x8 mode: the input rescaled so that [-65535, 0] is [-10, 0], two interpolated
tables that the converter builds as TFLM's Prepare does and adds to the record as a constant input)."""

from __future__ import annotations

import math

from cimconv.ir import Graph, Operator, Tensor
from cimconv.lowering import Lowered
from cimconv.lowering._cpu_common import f32, fail, int8, tensor
from cimconv.lowering._softmax16 import tables
from cimconv.qmath import quantize_multiplier

PARAM_INPUTS: tuple[int, ...] = ()

SCALED_DIFF_INTEGER_BITS = 5

def calculate_input_radius(integer_bits: int, left_shift: int, total_signed_bits: int = 31) -> int:
    """TFLM CalculateInputRadius: the largest |input diff| whose rescaled value stays in range."""
    max_rescaled = (1.0 * ((1 << integer_bits) - 1) * (1 << (total_signed_bits - integer_bits))
                    / (1 << left_shift))
    return int(math.floor(max_rescaled))

def lower_int16(graph: Graph, op: Operator) -> Lowered:
    """int16 -> int16: zero points 0 and an output scale of 1/32768 (TFLM's Prepare checks both)."""
    x = tensor(graph, op, 0)
    y = tensor(graph, op, 0, output=True)
    for t in (x, y):
        if t.dtype != "int16" or t.quant is None or t.quant.per_channel or t.quant.zp != 0:
            raise fail(op, f"tensor {t.label}: an int16 SOFTMAX takes int16 tensors with zero point 0 (16x8 mode)")
    if abs(f32(y.quant.s) - 1 / 32768) > 0.001 / 32768:
        raise fail(op, f"output scale {y.quant.s:g}; TFLM's int16 SOFTMAX needs 1/32768")
    if len(x.shape) < 1 or x.shape != y.shape:
        raise fail(op, f"input {x.shape} and output {y.shape} must have the same shape")
    beta = f32(float(op.options.get("beta", 1.0)))
    if not (math.isfinite(beta) and beta > 0):
        raise fail(op, f"beta {beta}; must be a positive finite number")
    mult, shift = quantize_multiplier(f32(x.quant.s) * beta / (10.0 / 65535.0))
    lut = Tensor(len(graph.tensors), f"{y.name} (softmax tables)", (2 * 513,), "int16", None, tables())
    graph.tensors.append(lut)
    return Lowered(op.opcode, [x.index, lut.index], [y.index],
                   {"input_mult": mult, "input_left_shift": shift, "diff_min": 0}, None, op.index)

def lower(graph: Graph, op: Operator) -> dict[str, int] | Lowered:
    x = tensor(graph, op, 0)
    y = tensor(graph, op, 0, output=True)
    if x.dtype == "int16":
        return lower_int16(graph, op)
    if y.dtype == "int16":
        int8(op, x)
        if y.quant is None or y.quant.per_channel or y.quant.zp != -32768:
            raise fail(op, "int16 output needs zero point -32768 (scale 1/65536), as TFLM's int8 -> int16 SOFTMAX")
    else:
        int8(op, x, y)
        if y.quant.zp != -128:
            raise fail(op, f"output zero point {y.quant.zp}; TFLM's int8 SOFTMAX needs -128 (scale 1/256)")
    if len(x.shape) < 1 or x.shape != y.shape:
        raise fail(op, f"input {x.shape} and output {y.shape} must have the same shape")
    beta = float(op.options.get("beta", 1.0))
    if not (math.isfinite(beta) and beta > 0):
        raise fail(op, f"beta {beta}; must be a positive finite number")
    # PreprocessSoftmaxScaling (double rounding build): min(beta * s * 2^(31-5), 2^31 - 1)
    real = min(beta * f32(x.quant.s) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)), (1 << 31) - 1.0)
    mult, shift = quantize_multiplier(real)
    if shift < 0:
        raise fail(op, f"input scale {x.quant.s} * beta {beta} is too small for TFLM's softmax scaling")
    diff_min = -calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift)
    return {"input_mult": mult, "input_left_shift": shift, "diff_min": diff_min}
