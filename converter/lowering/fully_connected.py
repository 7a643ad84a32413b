"""FULLY_CONNECTED as a CiM matrix: one column per output unit, K = input depth."""

from __future__ import annotations

import numpy as np

from cimconv.errors import ModelError
from cimconv.image import MATRIX_DENSE
from cimconv.ir import Graph, Operator
from cimconv.lowering import Lowered, MatrixSpec
from cimconv.lowering._conv_common import act_params, bias_of, conv_multipliers, fold_bias, require_int8
from cimconv.qmath import quantize_multiplier


def lower(graph: Graph, op: Operator) -> Lowered:
    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    y = graph.tensors[op.outputs[0]]
    require_int8(graph, op, x, w, y)
    if w.data is None:
        raise ModelError(f"FULLY_CONNECTED at operator {op.index}: weights are not constant")
    if op.options.get("weights_format", 0) != 0:
        raise ModelError(f"FULLY_CONNECTED at operator {op.index}: shuffled weights format is not supported")
    n, k = w.shape
    if x.size % k:
        raise ModelError(f"FULLY_CONNECTED at operator {op.index}: input size {x.size} is not a multiple of {k}")
    weights = w.data.reshape(n, k).astype("int8")
    if w.quant.per_channel:
        mult, shift = conv_multipliers(x.quant.s, w.quant.scale, y.quant.s, n)
    else:
        # GetQuantizedConvolutionMultipler: the input x filter product is taken in float, then divided in double.
        real = float(np.float32(x.quant.s) * np.float32(w.quant.s)) / float(np.float32(y.quant.s))
        m0, s0 = quantize_multiplier(real)
        mult, shift = np.full(n, m0, np.int32), np.full(n, s0, np.int32)
    bias = fold_bias(bias_of(graph, op, n), weights, x.quant.zp)
    params = {"matrix": -1, "in_zp": x.quant.zp, **act_params(op, y)}
    m = MatrixSpec(MATRIX_DENSE, weights, bias, mult, shift)
    return Lowered(op.opcode, [op.inputs[0]], list(op.outputs), params, m, op.index)
