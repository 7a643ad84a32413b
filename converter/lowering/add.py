"""ADD lowering: TFLM add_common Prepare (inputs rescaled to twice the max scale; left_shift 20 for int8, 15 for
int16, TFLM's 16x8 mode)."""

from __future__ import annotations

from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import broadcast_ok, f32, fail, fused_range, int8_or_int16, tensor
from cimconv.qmath import quantize_multiplier

PARAM_INPUTS: tuple[int, ...] = ()


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    a, b = tensor(graph, op, 0), tensor(graph, op, 1)
    y = tensor(graph, op, 0, output=True)
    dtype = int8_or_int16(op, a, b, y)
    if max(len(a.shape), len(b.shape), len(y.shape)) > 4:
        raise fail(op, "tensors of more than 4 dimensions are not supported")
    broadcast_ok(op, a, b, y)
    left_shift = 15 if dtype == "int16" else 20
    twice_max = 2.0 * max(f32(a.quant.s), f32(b.quant.s))
    if twice_max / ((1 << left_shift) * f32(y.quant.s)) >= 1.0:  # TFLM's Prepare aborts (a CHECK) on it
        raise fail(op, f"output scale {y.quant.s:.3g} is degenerate against input scales {a.quant.s:.3g}, "
                       f"{b.quant.s:.3g} (the rescaling factor must be below 1); check the model's quantization")
    m1, s1 = quantize_multiplier(f32(a.quant.s) / twice_max)
    m2, s2 = quantize_multiplier(f32(b.quant.s) / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << left_shift) * f32(y.quant.s)))
    lo, hi = fused_range(op, y)
    return {"in1_offset": -a.quant.zp, "in2_offset": -b.quant.zp, "out_offset": y.quant.zp,
            "left_shift": left_shift, "in1_mult": m1, "in1_shift": s1, "in2_mult": m2, "in2_shift": s2,
            "out_mult": mo, "out_shift": so, "act_min": lo, "act_max": hi}
