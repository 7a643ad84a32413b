"""SUB lowering: TFLM sub_common Prepare (inputs rescaled to twice the max scale; left_shift 20 for int8, 15 for
int16, TFLM's 16x8 mode, whose tensors have zero point 0).

The rescaling factors are formed from the float32 scales in double, as ADD's: the TFLM installed does so
(some TFLM sources take them in float32; tests/test_ops_tflm.py tells the two apart on scales where they
differ). Each must be below one (TFLM's QuantizeMultiplierSmallerThanOneExp).
"""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.image_check import I8_MAX, I8_MIN, _act, _fail, _in_range, _requant, binary_shapes
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import broadcast_ok, f32, fail, fused_range, int8_or_int16, tensor
from cimconv.qmath import quantize_multiplier

PARAM_INPUTS: tuple[int, ...] = ()
LEFT_SHIFT = {"int8": 20, "int16": 15}


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    a, b = tensor(graph, op, 0), tensor(graph, op, 1)
    y = tensor(graph, op, 0, output=True)
    dtype = int8_or_int16(op, a, b, y)
    if max(len(a.shape), len(b.shape), len(y.shape)) > 4:
        raise fail(op, "tensors of more than 4 dimensions are not supported")
    broadcast_ok(op, a, b, y)
    s1, s2, so = f32(a.quant.s), f32(b.quant.s), f32(y.quant.s)
    twice_max = 2.0 * max(s1, s2)
    left_shift = LEFT_SHIFT[dtype]
    reals = [s1 / twice_max, s2 / twice_max, twice_max / ((1 << left_shift) * so)]
    (m1, sh1), (m2, sh2), (mo, sho) = (quantize_multiplier(r) for r in reals)
    if max(sh1, sh2, sho) > 0:
        raise fail(op, f"output scale {y.quant.s:g} is too small for the input scales {a.quant.s:g}, {b.quant.s:g} "
                       "(TFLM needs each rescaling factor below one)")
    lo, hi = fused_range(op, y)
    return {"in1_offset": -a.quant.zp, "in2_offset": -b.quant.zp, "out_offset": y.quant.zp,
            "left_shift": left_shift, "in1_mult": m1, "in1_shift": sh1, "in2_mult": m2, "in2_shift": sh2,
            "out_mult": mo, "out_shift": sho, "act_min": lo, "act_max": hi}


def check_record(img: Image, op: OpRec, at: str) -> None:
    binary_shapes(img, op, at, int16=True)
    p = op.params
    if img.tensors[op.outputs[0]].dtype == "int16":  # 16x8: zero points 0
        _in_range(at, p, 0, 0, "in1_offset", "in2_offset", "out_offset")
        _in_range(at, p, LEFT_SHIFT["int16"], LEFT_SHIFT["int16"], "left_shift")
        _in_range(at, p, -32768, 32767, "act_min", "act_max")
    else:
        _in_range(at, p, -I8_MAX, -I8_MIN, "in1_offset", "in2_offset")
        _in_range(at, p, I8_MIN, I8_MAX, "out_offset")
        _in_range(at, p, LEFT_SHIFT["int8"], LEFT_SHIFT["int8"], "left_shift")
        _act(at, p)
    for m, s in (("in1_mult", "in1_shift"), ("in2_mult", "in2_shift"), ("out_mult", "out_shift")):
        _requant(at, p, m, s)
        _in_range(at, p, -31, 0, s)
    if p["act_min"] > p["act_max"]:
        raise _fail(at, f"act_min {p['act_min']} > act_max {p['act_max']}")
