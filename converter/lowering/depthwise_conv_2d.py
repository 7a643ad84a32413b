"""DEPTHWISE_CONV_2D as a CiM matrix: K = kh*kw rows per output channel, placed block-diagonally."""

from __future__ import annotations

from cimconv.errors import ModelError
from cimconv.image import MATRIX_DEPTHWISE
from cimconv.ir import Graph, Operator
from cimconv.lowering import Lowered, MatrixSpec
from cimconv.lowering._conv_common import (
    act_params,
    bias_of,
    conv_multipliers,
    fold_bias,
    require_int8,
    same_padding,
)


def lower(graph: Graph, op: Operator) -> Lowered:
    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    y = graph.tensors[op.outputs[0]]
    require_int8(graph, op, x, w, y)
    if w.data is None:
        raise ModelError(f"DEPTHWISE_CONV_2D at operator {op.index}: filter is not constant")
    _one, kh, kw, cout = w.shape
    cin = x.shape[3]
    o = op.options
    mult_d = o.get("depth_multiplier", 1) or 1
    if cout != cin * mult_d:
        mult_d = cout // cin
    if cout != cin * mult_d:
        raise ModelError(f"DEPTHWISE_CONV_2D at operator {op.index}: {cout} output channels for {cin} inputs")
    sh, sw = o.get("stride_h", 1), o.get("stride_w", 1)
    dh, dw = o.get("dilation_h_factor", o.get("dilation_hfactor", 1)), o.get("dilation_w_factor",
                                                                              o.get("dilation_wfactor", 1))
    pad = o.get("padding", "SAME")
    weights = w.data.reshape(kh * kw, cout).T.copy().astype("int8")  # (N, K)
    mult, shift = conv_multipliers(x.quant.s, w.quant.scale, y.quant.s, cout)
    bias = fold_bias(bias_of(graph, op, cout), weights, x.quant.zp)
    params = {
        "matrix": -1, "stride_h": sh, "stride_w": sw, "dil_h": dh, "dil_w": dw,
        "pad_top": same_padding(x.shape[1], kh, sh, dh, y.shape[1], pad),
        "pad_left": same_padding(x.shape[2], kw, sw, dw, y.shape[2], pad),
        "kernel_h": kh, "kernel_w": kw, "depth_mult": mult_d, "in_zp": x.quant.zp, **act_params(op, y),
    }
    m = MatrixSpec(MATRIX_DEPTHWISE, weights, bias, mult, shift, (kh, kw))
    return Lowered(op.opcode, [op.inputs[0]], list(op.outputs), params, m, op.index)
