"""Shared arithmetic of the CiM ops: padding, TFLM multipliers, bias folding."""

from __future__ import annotations

import numpy as np

from cimconv.errors import ModelError
from cimconv.ir import Graph, Operator, Tensor
from cimconv.lowering import Lowered, MatrixSpec
from cimconv.qmath import activation_range, quantize_multiplier


def require_int8(graph: Graph, op: Operator, *tensors: Tensor) -> None:
    for t in tensors:
        if t.dtype != "int8" or t.quant is None:
            raise ModelError(f"{op.opcode} at operator {op.index}: tensor '{t.name}' is {t.dtype}"
                             f"{'' if t.quant else ' without quantization'}; only int8 quantized tensors map "
                             "onto CiM macros (quantize the model to int8)")


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
    if b.dtype != "int32":
        raise ModelError(f"{op.opcode} at operator {op.index}: bias is {b.dtype}, expected int32 (int8 model)")
    return b.data.reshape(-1).astype(np.int64)


def fold_bias(bias: np.ndarray, weights: np.ndarray, in_zp: int) -> np.ndarray:
    """bias - in_zp * sum_k W[c, k]: lets the array multiply raw int8 inputs."""
    folded = bias - in_zp * weights.astype(np.int64).sum(axis=1)
    if np.any(np.abs(folded) >= 2**31):
        raise ModelError("folded bias overflows int32")
    return folded.astype(np.int32)


def act_params(op: Operator, out: Tensor) -> dict[str, int]:
    lo, hi = activation_range(op.options.get("fused_activation_function", "NONE"), out.quant.s, out.quant.zp)
    return {"out_zp": out.quant.zp, "act_min": lo, "act_max": hi}


def operands(graph: Graph, op: Operator) -> tuple[Tensor, Tensor, Tensor]:
    """(input, constant filter, output) of a conv-like op, checked to be int8 4-D."""
    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    y = graph.tensors[op.outputs[0]]
    require_int8(graph, op, x, w, y)
    if w.data is None:
        raise ModelError(f"{op.opcode} at operator {op.index}: filter is not constant")
    if len(x.shape) != 4 or len(w.shape) != 4:
        raise ModelError(f"{op.opcode} at operator {op.index}: expected 4-D input and filter")
    return x, w, y


def window_params(op: Operator, x: Tensor, y: Tensor, kh: int, kw: int) -> dict[str, int]:
    """Strides, dilations and TFLite padding of a conv-like op, as program params."""
    o = op.options
    sh, sw = o.get("stride_h", 1), o.get("stride_w", 1)
    dh = o.get("dilation_h_factor", o.get("dilation_hfactor", 1))
    dw = o.get("dilation_w_factor", o.get("dilation_wfactor", 1))
    pad = o.get("padding", "SAME")
    return {
        "stride_h": sh, "stride_w": sw, "dil_h": dh, "dil_w": dw,
        "pad_top": same_padding(x.shape[1], kh, sh, dh, y.shape[1], pad),
        "pad_left": same_padding(x.shape[2], kw, sw, dw, y.shape[2], pad),
        "kernel_h": kh, "kernel_w": kw,
    }


def windowed_matrix_op(graph: Graph, op: Operator, x: Tensor, w: Tensor, y: Tensor, weights: np.ndarray,
                       kind: int, extra: dict[str, int]) -> Lowered:
    """A CONV_2D-like op as a CiM matrix op: per-channel multipliers, folded bias, window params."""
    n = weights.shape[0]
    kh, kw = (w.shape[1], w.shape[2])
    mult, shift = conv_multipliers(x.quant.s, w.quant.scale, y.quant.s, n)
    bias = fold_bias(bias_of(graph, op, n), weights, x.quant.zp)
    params = {"matrix": -1, **window_params(op, x, y, kh, kw), **extra, "in_zp": x.quant.zp, **act_params(op, y)}
    return Lowered(op.opcode, [op.inputs[0]], list(op.outputs), params,
                   MatrixSpec(kind, weights, bias, mult, shift, (kh, kw)), op.index)
