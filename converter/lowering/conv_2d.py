"""CONV_2D as a CiM matrix: K = kh*kw*cin rows (TFLite filter order), one column per output channel."""

from __future__ import annotations

from cimconv.errors import ModelError
from cimconv.image import MATRIX_DENSE
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
        raise ModelError(f"CONV_2D at operator {op.index}: filter is not constant")
    if len(x.shape) != 4 or len(w.shape) != 4:
        raise ModelError(f"CONV_2D at operator {op.index}: expected 4-D input and filter")
    cout, kh, kw, cin = w.shape
    if x.shape[3] != cin:
        raise ModelError(f"CONV_2D at operator {op.index}: grouped convolution is not supported")
    o = op.options
    sh, sw = o.get("stride_h", 1), o.get("stride_w", 1)
    dh, dw = o.get("dilation_h_factor", o.get("dilation_hfactor", 1)), o.get("dilation_w_factor",
                                                                              o.get("dilation_wfactor", 1))
    pad = o.get("padding", "SAME")
    weights = w.data.reshape(cout, kh * kw * cin).astype("int8")
    mult, shift = conv_multipliers(x.quant.s, w.quant.scale, y.quant.s, cout)
    bias = fold_bias(bias_of(graph, op, cout), weights, x.quant.zp)
    params = {
        "matrix": -1, "stride_h": sh, "stride_w": sw, "dil_h": dh, "dil_w": dw,
        "pad_top": same_padding(x.shape[1], kh, sh, dh, y.shape[1], pad),
        "pad_left": same_padding(x.shape[2], kw, sw, dw, y.shape[2], pad),
        "kernel_h": kh, "kernel_w": kw, "in_zp": x.quant.zp, **act_params(op, y),
    }
    m = MatrixSpec(MATRIX_DENSE, weights, bias, mult, shift, (kh, kw))
    return Lowered(op.opcode, [op.inputs[0]], list(op.outputs), params, m, op.index)
