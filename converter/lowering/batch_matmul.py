"""BATCH_MATMUL lowering: TFLM's int8 (or 16x8 int16, zero points 0) BatchMatMul on the CPU, both operands as inputs (activations or a
constant), batch dimensions broadcast, `adj_x`/`adj_y` kept; the multiplier is lhs scale x rhs scale / output
scale formed in double from the float32 scales, as TFLM's Prepare does.

A constant right operand of zero point 0 could run on the CiM macro as a FULLY_CONNECTED; TensorFlow's
converter turns such a matmul into FULLY_CONNECTED itself and quantizes the constants it leaves in a
BATCH_MATMUL asymmetrically, which the macro (symmetric weights) cannot take, so this lowering does not try."""

from __future__ import annotations

import numpy as np

from cimconv.image import Image, OpRec
from cimconv.image_check import I8_MAX, I8_MIN, _fail, _in_range, _int8_or_int16, _recs, _requant
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import f32, fail, int8_or_int16, tensor
from cimconv.qmath import quantize_multiplier

PARAM_INPUTS: tuple[int, ...] = ()
MAX_DEPTH = 32767  # (255 x 255) x depth stays inside TFLM's int32 accumulator


def product_shape(a: tuple[int, ...], b: tuple[int, ...], adj_x: bool, adj_y: bool) -> tuple[int, ...] | None:
    """The output shape of the (broadcast) matrix product, or None when the operands do not multiply."""
    if len(a) < 2 or len(b) < 2:
        return None
    m, k = (a[-1], a[-2]) if adj_x else (a[-2], a[-1])
    k2, n = (b[-1], b[-2]) if adj_y else (b[-2], b[-1])
    try:
        batch = np.broadcast_shapes(a[:-2], b[:-2])
    except ValueError:
        return None
    return (*batch, m, n) if k == k2 else None


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    a, b, y = tensor(graph, op, 0), tensor(graph, op, 1), tensor(graph, op, 0, output=True)
    dtype = int8_or_int16(op, a, b, y)
    adj_x, adj_y = bool(op.options.get("adj_x")), bool(op.options.get("adj_y"))
    if max(len(a.shape), len(b.shape), len(y.shape)) > 4:
        raise fail(op, "tensors of more than 4 dimensions are not supported")
    want = product_shape(tuple(a.shape), tuple(b.shape), adj_x, adj_y)
    if want is None or tuple(want) != tuple(y.shape):
        raise fail(op, f"{list(a.shape)} x {list(b.shape)} (adj_x {adj_x}, adj_y {adj_y}) does not give output "
                       f"{list(y.shape)}")
    depth = a.shape[-2] if adj_x else a.shape[-1]
    if depth > MAX_DEPTH:
        raise fail(op, f"depth {depth} exceeds {MAX_DEPTH} (the int32 accumulator)")
    mult, shift = quantize_multiplier(f32(a.quant.s) * f32(b.quant.s) / f32(y.quant.s))
    if dtype == "int16" and shift >= 8:  # TFLM's 64-bit requantization asserts shift < 8
        raise fail(op, f"output scale {y.quant.s:g} is too small for the input scales (rescale 2^{shift} or more; "
                       "the 16x8 requantization takes below 2^8); check the model's quantization")
    return {"adj_x": int(adj_x), "adj_y": int(adj_y), "lhs_zp": a.quant.zp, "rhs_zp": b.quant.zp,
            "out_zp": y.quant.zp, "mult": mult, "shift": shift}


def check_record(img: Image, op: OpRec, at: str) -> None:
    (a, b), y = _recs(img, op, at, (2, 2))
    wide = _int8_or_int16(at, a, b, y) == "int16"
    p = op.params
    _in_range(at, p, 0, 1, "adj_x", "adj_y")
    _in_range(at, p, 0 if wide else I8_MIN, 0 if wide else I8_MAX, "lhs_zp", "rhs_zp", "out_zp")
    _requant(at, p, "mult", "shift")
    if wide:
        _in_range(at, p, -31, 7, "shift")
    want = product_shape(tuple(a.shape), tuple(b.shape), bool(p["adj_x"]), bool(p["adj_y"]))
    if max(len(a.shape), len(b.shape), len(y.shape)) > 4 or want is None or tuple(want) != tuple(y.shape):
        raise _fail(at, f"{list(a.shape)} x {list(b.shape)} does not give output {list(y.shape)}")
