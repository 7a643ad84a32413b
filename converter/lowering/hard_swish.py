"""HARD_SWISH lowering: TFLM HardSwishPrepare for int8. The input is moved to a "hires" scale (input scale /
128, in float32); the output and "relu-ish" rescaling factors are formed in float32, quantized with
QuantizeMultiplier and rounded down to 16-bit multipliers (DownScaleInt32ToInt16Multiplier)."""

from __future__ import annotations

import numpy as np

from cimconv.image import Image, OpRec
from cimconv.image_check import I8_MAX, I8_MIN, _in_range
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import fail
from cimconv.lowering._elementwise import check_io, io
from cimconv.qmath import quantize_multiplier

PARAM_INPUTS: tuple[int, ...] = ()
I32_MAX, I16_MAX = (1 << 31) - 1, (1 << 15) - 1


def to_int16_multiplier(m32: int) -> int:
    """TFLM DownScaleInt32ToInt16Multiplier: the high 16 bits, rounded."""
    if m32 >= I32_MAX - (1 << 15):
        return I16_MAX
    return (m32 + (1 << 15)) >> 16


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x, y = io(graph, op)
    hires = np.float32(1.0 / 128.0) * np.float32(x.quant.s)
    with np.errstate(all="ignore"):
        m_out, e_out = quantize_multiplier(float(hires / np.float32(y.quant.s)))
        m_rel, e_rel = quantize_multiplier(float(hires / np.float32(3.0 / 32768.0)))
    if e_out > 0:
        raise fail(op, f"output scale {y.quant.s:g} is too small for input scale {x.quant.s:g} (TFLM needs the "
                       "output rescaling factor below one)")
    return {"in_zp": x.quant.zp, "out_zp": y.quant.zp, "out_mult": to_int16_multiplier(m_out), "out_exp": e_out,
            "reluish_mult": to_int16_multiplier(m_rel), "reluish_exp": e_rel}


def check_record(img: Image, op: OpRec, at: str) -> None:
    check_io(img, op, at)
    p = op.params
    _in_range(at, p, I8_MIN, I8_MAX, "in_zp", "out_zp")
    _in_range(at, p, 0, I16_MAX, "out_mult", "reluish_mult")
    _in_range(at, p, -15, 0, "out_exp")
    _in_range(at, p, -15, 15, "reluish_exp")
