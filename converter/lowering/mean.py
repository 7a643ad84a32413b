"""MEAN lowering: TFLM's integer QuantizedMeanOrSum (int8, or int16 in the 16x8 mode), with 1/count folded into
the multiplier here.

TFLM (reference kernels) computes sum(x - in_zp) over the axes, then MultiplyByQuantizedMultiplier with
the multiplier of in_scale/out_scale divided by the element count (shifted up by floor(log2 count),
clamped to 32 and to 31 + shift). The count is static, so the folded multiplier is a convert-time param.
"""

from __future__ import annotations

import math

from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import const_ints, f32, fail, int8_or_int16, tensor
from cimconv.qmath import quantize_multiplier

PARAM_INPUTS: tuple[int, ...] = (1,)


def fold_count(mult: int, shift: int, count: int) -> tuple[int, int]:
    """The TFLM reduce.h rescaling by 1/count (int64 arithmetic, C truncating division, count > 0)."""
    s = max(min(count.bit_length() - 1, 32, 31 + shift), 0)
    return int((mult << s) // count), shift - s


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x = tensor(graph, op, 0)
    y = tensor(graph, op, 0, output=True)
    int8_or_int16(op, x, y)
    rank = len(x.shape)
    if not 1 <= rank <= 4:
        raise fail(op, f"input {x.shape}: only 1-D to 4-D tensors are supported")
    axes = const_ints(graph, op, 1, "axes")
    resolved = sorted({int(a) + rank if a < 0 else int(a) for a in axes})
    if any(not 0 <= a < rank for a in resolved):
        raise fail(op, f"axes {axes.tolist()} are out of range for a {rank}-D input")
    keep = bool(op.options.get("keep_dims", False))
    if 0 in resolved and (x.shape[0] != 1 or not keep):
        raise fail(op, "reducing over dimension 0 (the batch dimension) is not supported")
    count = 1
    for a in resolved:
        count *= x.shape[a]
    want = [1 if d in resolved else n for d, n in enumerate(x.shape)] if keep else \
        [n for d, n in enumerate(x.shape) if d not in resolved]
    if y.size != math.prod(want):
        raise fail(op, f"output {y.shape} does not match input {x.shape} reduced over {resolved}")
    if count == 0:
        raise fail(op, "reducing over an empty dimension")
    mult, shift = quantize_multiplier(f32(x.quant.s) / f32(y.quant.s))
    mult, shift = fold_count(mult, shift, count)
    mask = sum(1 << a for a in resolved)
    return {"axis_mask": mask, "in_zp": x.quant.zp, "out_zp": y.quant.zp, "mult": mult, "shift": shift,
            "keep_dims": int(keep)}
