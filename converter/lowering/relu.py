"""RELU lowering: TFLM CalculateReluOpData for int8 (requantize by input/output scale in double, clamp at
the output's zero point)."""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.image_check import I8_MAX, I8_MIN, _act, _in_range, _requant
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import f32
from cimconv.lowering._elementwise import check_io, io
from cimconv.qmath import quantize_multiplier

PARAM_INPUTS: tuple[int, ...] = ()


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x, y = io(graph, op)
    mult, shift = quantize_multiplier(f32(x.quant.s) / f32(y.quant.s))
    # act_min = max(-128, zp + roundf(0 / scale)) = zp; act_max = 127 (no upper bound)
    return {"in_zp": x.quant.zp, "out_zp": y.quant.zp, "mult": mult, "shift": shift,
            "act_min": max(I8_MIN, y.quant.zp), "act_max": I8_MAX}


def check_record(img: Image, op: OpRec, at: str) -> None:
    check_io(img, op, at)
    _in_range(at, op.params, I8_MIN, I8_MAX, "in_zp", "out_zp")
    _requant(at, op.params, "mult", "shift")
    _act(at, op.params)
