"""Reductions on the macro: AVERAGE_POOL_2D and MEAN as a depthwise CiM pass over the int8 activations.

Both ops are a window sum followed by a division. The sum is a depthwise product with a constant weight:
channel c's window of K = kh x kw int8 values (the *requantized* outputs of the producing layer, exactly
what TFLM pools) against a column of K equal weights. So the op becomes a DEPTHWISE_CONV_2D program op
(block-diagonal columns, one per channel) and the division happens in the macro's existing output stage,
`clamp(MultiplyByQuantizedMultiplier(bias + sum, mult, shift) + out_zp, act_min, act_max)`:

- MEAN (TFLM reduce: sum(x - in_zp), one MultiplyByQuantizedMultiplier whose multiplier carries 1/count,
  + out_zp, clamp to int8) *is* that stage with weights 1, the zero point folded into the bias and the
  multiplier `cimconv.lowering.mean` computes. Only MEAN over the two spatial axes of a 4-D NHWC tensor
  is a window sum.
- AVERAGE_POOL_2D (TFLM: acc = sum, (acc +- count/2) / count rounding half away from zero, clamp) needs a
  multiplier that divides exactly. MultiplyByQuantizedMultiplier rounds twice, so 1/count's own
  multiplier is off by one for some sums (count 125: 62/125 = 0.496 comes out as 1). A weight w > 1
  keeps more bits through the first rounding: the stage computes MBQM(w x sum, M, s) with M 2^s / 2^31
  close to 1/(w count). `average_stage` searches w and M and keeps the first pair that equals TFLM's
  rounding for **every** sum the window can hold ([-128 count, 127 count], checked exhaustively here),
  else the pool stays on the CPU. Every window must hold `count` taps (no padding taps: TFLM divides by
  the taps inside the input, which the per-column multiplier cannot follow).

No new op kind, image field or output-stage mode: the device (soft backend, mailbox coprocessor) and the
golden model run it as the depthwise op they already run.
"""

from __future__ import annotations

import numpy as np

from cimconv.image import MATRIX_DEPTHWISE
from cimconv.ir import Graph, Operator, Tensor
from cimconv.lowering import Lowered, MatrixSpec
from cimconv.qmath import quantize_multiplier

WEIGHTS = (1, 2, 4, 8, 16, 32, 64, 127)  # constant weights tried, smallest first
MAX_COUNT = 1 << 14  # windows up to 16,384 taps (the sum times the weight stays far inside int32)


def srdhm(a: np.ndarray, b: int) -> np.ndarray:
    """TFLM SaturatingRoundingDoublingHighMul (int64 product, C truncating division by 2^31)."""
    ab = a.astype(np.int64) * np.int64(b)
    t = ab + np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    return np.where(t >= 0, t >> 31, -((-t) >> 31))


def rdbpot(x: np.ndarray, exponent: int) -> np.ndarray:
    """TFLM RoundingDivideByPOT: rounds half away from zero."""
    mask = np.int64((1 << exponent) - 1)
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def mbqm(x: np.ndarray, mult: int, shift: int) -> np.ndarray:
    """MultiplyByQuantizedMultiplier for shift <= 0 (the only kind `average_stage` chooses)."""
    return rdbpot(srdhm(x, mult), -shift)


def tflm_average(total: np.ndarray, count: int) -> np.ndarray:
    """TFLM's integer average pool rounding: (acc +- count/2) / count, C truncating division."""
    half = count // 2
    num = np.where(total > 0, total + half, total - half)
    return np.sign(num) * (np.abs(num) // count)


def average_stage(count: int) -> tuple[int, int, int] | None:
    """(weight, mult, shift) whose output stage equals TFLM's average rounding for every int8 window sum of
    `count` taps, or None when no candidate does (the pool then stays on the CPU)."""
    if not 1 <= count <= MAX_COUNT:
        return None
    sums = np.arange(-128 * count, 127 * count + 1, dtype=np.int64)
    want = tflm_average(sums, count)
    for w in WEIGHTS:
        m0, s0 = quantize_multiplier(1.0 / (w * count))
        for m in (m0, m0 + 1, m0 + 2, m0 - 1):
            if not (1 << 30) <= m < (1 << 31) or s0 > 0:
                continue
            if np.array_equal(mbqm(sums * w, m, s0), want):
                return w, m, s0
    return None


def _depthwise(op: Operator, x_index: int, y_index: int, kh: int, kw: int, channels: int, weight: int,
               bias: int, mult: int, shift: int, window: dict[str, int], in_zp: int, out_zp: int,
               act: tuple[int, int]) -> Lowered:
    k = kh * kw
    weights = np.full((channels, k), weight, np.int8)
    params = {"matrix": -1, **window, "kernel_h": kh, "kernel_w": kw, "depth_mult": 1, "in_zp": in_zp,
              "out_zp": out_zp, "act_min": act[0], "act_max": act[1]}
    spec = MatrixSpec(MATRIX_DEPTHWISE, weights, np.full(channels, bias, np.int32),
                      np.full(channels, mult, np.int32), np.full(channels, shift, np.int32), (kh, kw))
    return Lowered("DEPTHWISE_CONV_2D", [x_index], [y_index], params, spec, op.index, op.opcode)


def average_pool_on_macro(graph: Graph, op: Operator, p: dict[str, int]) -> list[Lowered] | None:
    """AVERAGE_POOL_2D (params `p` from its CPU lowering) as a depthwise CiM pass, or None."""
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    fh, fw, sh, sw = p["filter_h"], p["filter_w"], p["stride_h"], p["stride_w"]
    # every window inside the input: no padding before, and none after
    for size, f, s, out, pad in ((x.shape[1], fh, sh, y.shape[1], p["pad_top"]),
                                 (x.shape[2], fw, sw, y.shape[2], p["pad_left"])):
        if pad or (out - 1) * s + f > size:
            return None
    stage = average_stage(fh * fw)
    if stage is None:
        return None
    w, mult, shift = stage
    window = {"stride_h": sh, "stride_w": sw, "dil_h": 1, "dil_w": 1, "pad_top": 0, "pad_left": 0}
    return [_depthwise(op, op.inputs[0], op.outputs[0], fh, fw, x.shape[3], w, 0, mult, shift, window, 0, 0,
                       (p["act_min"], p["act_max"]))]


def mean_on_macro(graph: Graph, op: Operator, p: dict[str, int]) -> list[Lowered] | None:
    """MEAN over axes 1 and 2 of a 4-D NHWC tensor as a depthwise CiM pass; without keep_dims the pass writes
    a 4-D N x 1 x 1 x C tensor of its own and a RESHAPE gives the model's N x C output."""
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    if len(x.shape) != 4 or p["axis_mask"] != 0b110 or y.size != x.shape[0] * x.shape[3]:
        return None
    kh, kw = x.shape[1], x.shape[2]
    count = kh * kw
    if not 1 <= count <= MAX_COUNT or p["mult"] < 0:
        return None
    window = {"stride_h": 1, "stride_w": 1, "dil_h": 1, "dil_w": 1, "pad_top": 0, "pad_left": 0}
    out = y.index
    if len(y.shape) != 4:
        out = len(graph.tensors)
        graph.tensors.append(Tensor(out, f"{y.name}/window_sum", (x.shape[0], 1, 1, x.shape[3]), "int8", y.quant))
    dw = _depthwise(op, op.inputs[0], out, kh, kw, x.shape[3], 1, -p["in_zp"] * count, p["mult"], p["shift"],
                    window, p["in_zp"], p["out_zp"], (-128, 127))
    if out == y.index:
        return [dw]
    return [dw, Lowered("RESHAPE", [out], [y.index], {}, None, op.index)]


ON_MACRO = {"AVERAGE_POOL_2D": average_pool_on_macro, "MEAN": mean_on_macro}


def on_macro(graph: Graph, low: Lowered) -> list[Lowered] | None:
    """The program ops of a CPU-lowered reduction's CiM form, or None when it has none (or is no reduction)."""
    make = ON_MACRO.get(low.opcode)
    if make is None or low.cim:
        return None
    op = next(o for o in graph.operators if o.index == low.source_index)
    return make(graph, op, low.params)
