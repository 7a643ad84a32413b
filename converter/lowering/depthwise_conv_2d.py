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
    operands,
    window_params,
)


def lower(graph: Graph, op: Operator) -> Lowered:
    x, w, y = operands(graph, op)
    _one, kh, kw, cout = w.shape
    cin = x.shape[3]
    mult_d = op.options.get("depth_multiplier", 1) or 1
    if cout != cin * mult_d:
        mult_d = cout // cin
    if cout != cin * mult_d:
        raise ModelError(f"DEPTHWISE_CONV_2D at operator {op.index}: {cout} output channels for {cin} inputs")
    weights = w.data.reshape(kh * kw, cout).T.copy().astype("int8")  # (N, K)
    mult, shift = conv_multipliers(x.quant.s, w.quant.scale, y.quant.s, cout)
    bias = fold_bias(bias_of(graph, op, cout), weights, x.quant.zp)
    params = {"matrix": -1, **window_params(op, x, y, kh, kw), "depth_mult": mult_d, "in_zp": x.quant.zp,
              **act_params(op, y)}
    m = MatrixSpec(MATRIX_DEPTHWISE, weights, bias, mult, shift, (kh, kw))
    return Lowered(op.opcode, [op.inputs[0]], list(op.outputs), params, m, op.index)
