"""MUL lowering: TFLM mul_common Prepare for int8 and int16 (16x8) (one multiplier in1 * in2 / out)."""

from __future__ import annotations

from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import broadcast_ok, f32, fail, fused_range, int8_or_int16, tensor
from cimconv.qmath import quantize_multiplier

PARAM_INPUTS: tuple[int, ...] = ()


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    a, b = tensor(graph, op, 0), tensor(graph, op, 1)
    y = tensor(graph, op, 0, output=True)
    int8_or_int16(op, a, b, y)
    if max(len(a.shape), len(b.shape), len(y.shape)) > 4:
        raise fail(op, "tensors of more than 4 dimensions are not supported")
    broadcast_ok(op, a, b, y)
    mult, shift = quantize_multiplier(f32(a.quant.s) * f32(b.quant.s) / f32(y.quant.s))
    lo, hi = fused_range(op, y)
    return {"in1_offset": -a.quant.zp, "in2_offset": -b.quant.zp, "out_offset": y.quant.zp,
            "out_mult": mult, "out_shift": shift, "act_min": lo, "act_max": hi}
