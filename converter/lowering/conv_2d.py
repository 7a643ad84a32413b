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
    operands,
    window_params,
)


def lower(graph: Graph, op: Operator) -> Lowered:
    x, w, y = operands(graph, op)
    cout, kh, kw, cin = w.shape
    if x.shape[3] != cin:
        raise ModelError(f"CONV_2D at operator {op.index}: grouped convolution is not supported")
    weights = w.data.reshape(cout, kh * kw * cin).astype("int8")
    mult, shift = conv_multipliers(x.quant.s, w.quant.scale, y.quant.s, cout)
    bias = fold_bias(bias_of(graph, op, cout), weights, x.quant.zp)
    params = {"matrix": -1, **window_params(op, x, y, kh, kw), "in_zp": x.quant.zp, **act_params(op, y)}
    m = MatrixSpec(MATRIX_DENSE, weights, bias, mult, shift, (kh, kw))
    return Lowered(op.opcode, [op.inputs[0]], list(op.outputs), params, m, op.index)
