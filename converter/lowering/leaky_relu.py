"""LEAKY_RELU lowering: TFLM CalculateOpDataLeakyRelu for int8 and int16: input scale x alpha / output scale and input
scale / output scale, formed from the float32 values in double as the TFLM installed does (some TFLM sources
take them in float32; tests/test_ops_tflm.py tells the two apart)."""

from __future__ import annotations

import numpy as np

from cimconv.image import Image, OpRec
from cimconv.image_check import _in_range, _requant
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import f32, fail
from cimconv.lowering._elementwise import check_io, io
from cimconv.qmath import quantize_multiplier

PARAM_INPUTS: tuple[int, ...] = ()


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x, y = io(graph, op)
    alpha = np.float32(op.options.get("alpha", 0.2))
    if not alpha >= 0:
        raise fail(op, f"alpha {float(alpha):g} < 0 is not supported (negative multipliers)")
    sx, sy = f32(x.quant.s), f32(y.quant.s)
    ma, sa = quantize_multiplier(sx * float(alpha) / sy)
    mi, si = quantize_multiplier(sx / sy)
    return {"in_zp": x.quant.zp, "out_zp": y.quant.zp, "alpha_mult": ma, "alpha_shift": sa,
            "identity_mult": mi, "identity_shift": si}


def check_record(img: Image, op: OpRec, at: str) -> None:
    lo, hi = check_io(img, op, at)
    _in_range(at, op.params, lo, hi, "in_zp", "out_zp")
    _requant(at, op.params, "alpha_mult", "alpha_shift")
    _requant(at, op.params, "identity_mult", "identity_shift")
