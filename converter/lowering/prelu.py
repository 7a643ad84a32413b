"""PRELU lowering: TFLM CalculatePreluParams for int8: input scale / output scale for x >= 0 and input scale x
alpha scale / output scale for x < 0, formed in double from the float32 scales; alpha (input 1, usually a
constant) broadcasts against the input as in BroadcastPrelu4DSlow."""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.image_check import I8_MAX, I8_MIN, _in_range, _requant, binary_shapes
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import broadcast_ok, f32, fail, int8, tensor
from cimconv.qmath import quantize_multiplier

PARAM_INPUTS: tuple[int, ...] = ()


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x, alpha, y = tensor(graph, op, 0), tensor(graph, op, 1), tensor(graph, op, 0, output=True)
    int8(op, x, alpha, y)
    if max(len(x.shape), len(alpha.shape), len(y.shape)) > 4:
        raise fail(op, "tensors of more than 4 dimensions are not supported")
    broadcast_ok(op, x, alpha, y)
    sx, sa, sy = f32(x.quant.s), f32(alpha.quant.s), f32(y.quant.s)
    mi, si = quantize_multiplier(sx / sy)
    ma, sha = quantize_multiplier(sx * sa / sy)
    return {"in_zp": x.quant.zp, "alpha_zp": alpha.quant.zp, "out_zp": y.quant.zp, "identity_mult": mi,
            "identity_shift": si, "alpha_mult": ma, "alpha_shift": sha}


def check_record(img: Image, op: OpRec, at: str) -> None:
    binary_shapes(img, op, at)
    _in_range(at, op.params, I8_MIN, I8_MAX, "in_zp", "alpha_zp", "out_zp")
    _requant(at, op.params, "identity_mult", "identity_shift")
    _requant(at, op.params, "alpha_mult", "alpha_shift")
