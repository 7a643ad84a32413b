"""DEPTHWISE_CONV_2D as a CiM matrix: K = kh*kw rows per output channel, placed block-diagonally."""

from __future__ import annotations

from cimconv.errors import ModelError
from cimconv.image import MATRIX_DEPTHWISE
from cimconv.ir import Graph, Operator
from cimconv.lowering import Lowered
from cimconv.lowering._conv_common import operands, windowed_matrix_op


def lower(graph: Graph, op: Operator) -> Lowered:
    x, w, y = operands(graph, op)
    one, kh, kw, cout = w.shape
    cin = x.shape[3]
    if one != 1:
        raise ModelError(f"DEPTHWISE_CONV_2D at operator {op.index}: filter {list(w.shape)} must have 1 as "
                         "its first dimension")
    mult_d = int(op.options.get("depth_multiplier", 1) or 1)
    if cout != cin * mult_d:
        mult_d = cout // cin
    if cout != cin * mult_d:
        raise ModelError(f"DEPTHWISE_CONV_2D at operator {op.index}: {cout} output channels for {cin} inputs")
    weights = w.data.reshape(kh * kw, cout).T.copy().astype("int8")  # (N, K)
    return windowed_matrix_op(graph, op, x, w, y, weights, MATRIX_DEPTHWISE, {"depth_mult": mult_d},
                              filter_axis=3)
