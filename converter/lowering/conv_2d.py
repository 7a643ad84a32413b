"""CONV_2D as a CiM matrix: K = kh*kw*cin rows (TFLite filter order), one column per output channel."""

from __future__ import annotations

from cimconv.errors import ModelError
from cimconv.image import MATRIX_DENSE
from cimconv.ir import Graph, Operator
from cimconv.lowering import Lowered
from cimconv.lowering._conv_common import operands, windowed_matrix_op


def lower(graph: Graph, op: Operator) -> Lowered:
    x, w, y = operands(graph, op)
    cout, kh, kw, cin = w.shape
    if x.shape[3] != cin:
        raise ModelError(f"CONV_2D at operator {op.index}: grouped convolution is not supported")
    weights = w.data.reshape(cout, kh * kw * cin).astype("int8")
    return windowed_matrix_op(graph, op, x, w, y, weights, MATRIX_DENSE, {}, filter_axis=0)
