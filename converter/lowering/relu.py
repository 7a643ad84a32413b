"""RELU lowering: TFLM CalculateReluOpData for int8 and int16 (requantize by input/output scale in double, clamp
at the output's zero point)."""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.image_check import ZP_RANGE, _fail, _in_range, _requant
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import f32
from cimconv.lowering._elementwise import check_io, io
from cimconv.qmath import quantize_multiplier

PARAM_INPUTS: tuple[int, ...] = ()


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x, y = io(graph, op)
    mult, shift = quantize_multiplier(f32(x.quant.s) / f32(y.quant.s))
    lo, hi = ZP_RANGE[x.dtype]
    # act_min = max(type min, zp + roundf(0 / scale)) = zp; act_max = type max (no upper bound)
    return {"in_zp": x.quant.zp, "out_zp": y.quant.zp, "mult": mult, "shift": shift,
            "act_min": max(lo, y.quant.zp), "act_max": hi}


def check_record(img: Image, op: OpRec, at: str) -> None:
    lo, hi = check_io(img, op, at)
    _in_range(at, op.params, lo, hi, "in_zp", "out_zp", "act_min", "act_max")
    _requant(at, op.params, "mult", "shift")
    if op.params["act_min"] > op.params["act_max"]:
        raise _fail(at, f"act_min {op.params['act_min']} > act_max {op.params['act_max']}")
