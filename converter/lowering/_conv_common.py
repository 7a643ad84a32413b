"""Shared arithmetic of the CiM ops: padding, TFLM multipliers, bias folding, and the checks behind them."""

from __future__ import annotations

import numpy as np

from cimconv.errors import ModelError
from cimconv.ir import Graph, Operator, Tensor
from cimconv.lowering import Lowered, MatrixSpec
from cimconv.lowering._cpu_common import compute_out_and_pad, fail, fused_range
from cimconv.qmath import quantize_multiplier


def require_int8(graph: Graph, op: Operator, *tensors: Tensor) -> None:
    for t in tensors:
        if t.dtype != "int8" or t.quant is None:
            raise ModelError(f"{op.opcode} at operator {op.index}: tensor {t.label} is {t.dtype}"
                             f"{'' if t.quant else ' without quantization'}; only int8 quantized tensors map "
                             "onto CiM macros (quantize the model to int8)")


def require_activations(graph: Graph, op: Operator, x: Tensor, w: Tensor, y: Tensor) -> None:
    """int8 weights, and int8 activations or TFLM's 16x8 mode: int16 input and output, both zero point 0
    (TFLM's int16 kernels take no activation offsets). The input width is the input tensor's dtype in the
    image: a 16-bit input takes twice the bit-serial input cycles (docs/targets.md)."""
    if x.dtype != "int16":
        require_int8(graph, op, x, w, y)
        return
    require_int8(graph, op, w)
    for t in (x, y):
        if t.dtype != "int16" or t.quant is None:
            raise fail(op, f"tensor {t.label} is {t.dtype}{'' if t.quant else ' without quantization'}; with an "
                           "int16 input the output must be int16 too (TFLM's 16x8 mode)")
        if t.quant.zp != 0:
            raise fail(op, f"int16 tensor {t.label} has zero point {t.quant.zp}; TFLM's 16x8 kernels take zero "
                           "point 0 (quantize with TFLite's 16x8 mode)")


def require_per_tensor(op: Operator, *tensors: Tensor) -> None:
    for t in tensors:
        if t.quant is not None and t.quant.per_channel:
            raise fail(op, f"activation {t.label} is per-channel quantized; activations take one scale")


def require_filter_quant(op: Operator, w: Tensor, n: int, axis: int) -> None:
    """Weight scales: one, or one per output channel along `axis`; zero points 0 (symmetric int8)."""
    q = w.quant
    if q.per_channel and (q.scale.size != n or q.axis != axis):
        raise fail(op, f"weights {w.label} have {q.scale.size} scales along dimension {q.axis}; expected 1 or "
                       f"{n} along dimension {axis}")
    if np.any(q.zero_point != 0):
        raise fail(op, f"weights {w.label} have zero point {int(q.zero_point[q.zero_point != 0][0])}; "
                       "only symmetric int8 weights (zero point 0) are supported")


def same_padding(size: int, k: int, stride: int, dil: int, out: int, padding: str) -> int:
    """TFLite's pad-before for SAME (total // 2), 0 for VALID."""
    if padding != "SAME":
        return 0
    eff = (k - 1) * dil + 1
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2


def conv_multipliers(in_scale: float, w_scales: np.ndarray, out_scale: float, n: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """PopulateConvolutionQuantizationParams: double(in) * double(w) / double(out) per channel."""
    mult = np.zeros(n, np.int32)
    shift = np.zeros(n, np.int32)
    for c in range(n):
        s = float(w_scales[c] if w_scales.size > 1 else w_scales[0])
        eff = float(np.float32(in_scale)) * s / float(np.float32(out_scale))
        mult[c], shift[c] = quantize_multiplier(eff)
    return mult, shift


def bias_of(graph: Graph, op: Operator, n: int, pos: int = 2) -> np.ndarray:
    if len(op.inputs) <= pos or op.inputs[pos] < 0:
        return np.zeros(n, np.int64)
    b = graph.tensors[op.inputs[pos]]
    if b.data is None:
        raise ModelError(f"{op.opcode} at operator {op.index}: bias is not constant")
    wide = graph.tensors[op.inputs[0]].dtype == "int16"
    want = "int64" if wide else "int32"
    if b.dtype != want:
        raise ModelError(f"{op.opcode} at operator {op.index}: bias is {b.dtype}, expected {want} "
                         f"({'16x8' if wide else 'int8'} model)")
    if b.data.size != n:
        raise fail(op, f"bias {b.label} holds {b.data.size} values for {n} output channels")
    return b.data.reshape(-1).astype(np.int64)


def fold_bias(op: Operator, bias: np.ndarray, weights: np.ndarray, in_zp: int) -> np.ndarray:
    """bias - in_zp * sum_k W[c, k]: lets the array multiply raw int8 inputs."""
    folded = bias - in_zp * weights.astype(np.int64).sum(axis=1)
    if np.any(np.abs(folded) >= 2**31):
        raise fail(op, "bias with the input zero point folded in overflows int32" if in_zp else
                   f"int64 bias {int(folded[np.abs(folded) >= 2**31][0])} does not fit the image's int32 bias")
    return folded.astype(np.int32)


def require_wide_shift(op: Operator, x: Tensor, shift: np.ndarray) -> None:
    """TFLM's 64-bit MultiplyByQuantizedMultiplier (16x8 mode) takes shifts below 8 (a rescale < 128)."""
    if x.dtype == "int16" and np.any(shift >= 8):
        raise fail(op, f"rescaling shift {int(shift.max())} is out of the 16x8 kernels' range (< 8); "
                       "check the model's quantization")


def act_params(op: Operator, out: Tensor) -> dict[str, int]:
    lo, hi = fused_range(op, out)
    return {"out_zp": out.quant.zp, "act_min": lo, "act_max": hi}


def operands(graph: Graph, op: Operator) -> tuple[Tensor, Tensor, Tensor]:
    """(input, constant filter, output) of a conv-like op, checked to be int8 (or 16x8) 4-D."""
    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    y = graph.tensors[op.outputs[0]]
    require_activations(graph, op, x, w, y)
    require_per_tensor(op, x, y)
    if w.data is None:
        raise ModelError(f"{op.opcode} at operator {op.index}: filter is not constant")
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        raise ModelError(f"{op.opcode} at operator {op.index}: expected 4-D input, filter and output")
    return x, w, y


def window_params(op: Operator, x: Tensor, y: Tensor, kh: int, kw: int) -> dict[str, int]:
    """Strides, dilations and TFLite padding of a conv-like op, as program params; the output shape must
    be the one TFLite computes from them."""
    o = op.options
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    dh = int(o.get("dilation_h_factor", o.get("dilation_hfactor", 1)))
    dw = int(o.get("dilation_w_factor", o.get("dilation_wfactor", 1)))
    pad = o.get("padding", "SAME")
    if pad not in ("SAME", "VALID"):
        raise fail(op, f"{pad}; TFLite pads SAME or VALID")
    if min(sh, sw, dh, dw) < 1:
        raise fail(op, f"stride {sh}x{sw}, dilation {dh}x{dw}: must be positive")
    oh, pt = compute_out_and_pad(pad, x.shape[1], kh, sh, dh)
    ow, pl = compute_out_and_pad(pad, x.shape[2], kw, sw, dw)
    if (oh, ow) != tuple(y.shape[1:3]) or x.shape[0] != y.shape[0]:
        raise fail(op, f"output shape {list(y.shape)} does not follow from input {list(x.shape)}, kernel {kh}x{kw}, "
                       f"stride {sh}x{sw}, dilation {dh}x{dw}, padding {pad}")
    return {
        "stride_h": sh, "stride_w": sw, "dil_h": dh, "dil_w": dw,
        "pad_top": same_padding(x.shape[1], kh, sh, dh, y.shape[1], pad),
        "pad_left": same_padding(x.shape[2], kw, sw, dw, y.shape[2], pad),
        "kernel_h": kh, "kernel_w": kw,
    }


def windowed_matrix_op(graph: Graph, op: Operator, x: Tensor, w: Tensor, y: Tensor, weights: np.ndarray,
                       kind: int, extra: dict[str, int], filter_axis: int) -> Lowered:
    """A CONV_2D-like op as a CiM matrix op: per-channel multipliers, folded bias, window params."""
    n = weights.shape[0]
    kh, kw = (w.shape[1], w.shape[2])
    if y.shape[3] != n:
        raise fail(op, f"output {list(y.shape)} has {y.shape[3]} channels, the filter makes {n}")
    require_filter_quant(op, w, n, filter_axis)
    window = window_params(op, x, y, kh, kw)
    mult, shift = conv_multipliers(x.quant.s, w.quant.scale, y.quant.s, n)
    require_wide_shift(op, x, shift)
    bias = fold_bias(op, bias_of(graph, op, n), weights, x.quant.zp)
    params = {"matrix": -1, **window, **extra, "in_zp": x.quant.zp, **act_params(op, y)}
    return Lowered(op.opcode, [op.inputs[0]], list(op.outputs), params,
                   MatrixSpec(kind, weights, bias, mult, shift, (kh, kw)), op.index)
