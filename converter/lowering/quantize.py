"""QUANTIZE lowering inside the graph: int8 -> int8 and int16 -> int8/int16/int32 requantization (TFLM Requantize)."""

from __future__ import annotations

from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import f32, fail, int8, tensor
from cimconv.qmath import quantize_multiplier

PARAM_INPUTS: tuple[int, ...] = ()
# (input dtype, output dtype) pairs TFLM's QUANTIZE requantizes and the kernels implement
PAIRS = {("int8", "int8"), ("int16", "int8"), ("int16", "int16"), ("int16", "int32")}


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x = tensor(graph, op, 0)
    y = tensor(graph, op, 0, output=True)
    if x.dtype == "float32":
        raise fail(op, "float32 -> int8 QUANTIZE is only supported at the model input (the host converts)")
    if (x.dtype, y.dtype) == ("int8", "int8"):
        int8(op, x, y)
    elif (x.dtype, y.dtype) not in PAIRS:
        raise fail(op, f"{x.dtype} -> {y.dtype}; supported: int8 -> int8, int16 -> int8, int16 or int32")
    for t in (x, y):
        if t.quant is None or t.quant.per_channel:
            raise fail(op, f"tensor {t.label} needs per-tensor quantization parameters")
    if x.shape != y.shape:
        raise fail(op, f"input {list(x.shape)} and output {list(y.shape)} must have the same shape")
    mult, shift = quantize_multiplier(f32(x.quant.s) / f32(y.quant.s))
    return {"in_zp": x.quant.zp, "out_zp": y.quant.zp, "mult": mult, "shift": shift}
