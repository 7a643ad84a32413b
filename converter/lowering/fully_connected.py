"""FULLY_CONNECTED as a CiM matrix: one column per output unit, K = input depth."""

from __future__ import annotations

import math

import numpy as np

from cimconv.errors import ModelError
from cimconv.image import MATRIX_DENSE
from cimconv.ir import Graph, Operator
from cimconv.lowering import Lowered, MatrixSpec
from cimconv.lowering._conv_common import (
    act_params,
    bias_of,
    conv_multipliers,
    fold_bias,
    require_activations,
    require_filter_quant,
    require_per_tensor,
    require_wide_shift,
)
from cimconv.lowering._cpu_common import f32, fail
from cimconv.qmath import quantize_multiplier


def lower(graph: Graph, op: Operator) -> Lowered:
    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    y = graph.tensors[op.outputs[0]]
    require_activations(graph, op, x, w, y)
    require_per_tensor(op, x, y)
    if w.data is None:
        raise ModelError(f"FULLY_CONNECTED at operator {op.index}: weights are not constant")
    if op.options.get("weights_format", 0) != 0:
        raise ModelError(f"FULLY_CONNECTED at operator {op.index}: shuffled weights format is not supported")
    if len(w.shape) != 2:
        raise fail(op, f"weights {w.label} have shape {list(w.shape)}; expected 2-D [units, depth]")
    n, k = w.shape
    if x.size % k:
        raise ModelError(f"FULLY_CONNECTED at operator {op.index}: input size {x.size} is not a multiple of {k}")
    if len(x.shape) < 2 or len(y.shape) < 2 or x.shape[0] != y.shape[0] or math.prod(x.shape[1:]) % k:
        raise fail(op, f"input {list(x.shape)} -> output {list(y.shape)} mixes rows of {k} across dimension 0 "
                       "(the batch dimension); not supported")
    if y.size != x.size // k * n or y.shape[-1] != n:
        raise fail(op, f"output {list(y.shape)} does not hold {x.size // k} rows of {n} units")
    require_filter_quant(op, w, n, axis=0)
    weights = w.data.reshape(n, k).astype("int8")
    if w.quant.per_channel:
        mult, shift = conv_multipliers(x.quant.s, w.quant.scale, y.quant.s, n)
    else:
        # GetQuantizedConvolutionMultipler as the installed TFLM has it: the float32 scales are widened to
        # double before the input x filter product (older TFLite took the product in float32: 1 LSB off).
        real = f32(x.quant.s) * f32(w.quant.s) / f32(y.quant.s)
        m0, s0 = quantize_multiplier(real)
        mult, shift = np.full(n, m0, np.int32), np.full(n, s0, np.int32)
    require_wide_shift(op, x, shift)
    bias = fold_bias(op, bias_of(graph, op, n), weights, x.quant.zp)
    params = {"matrix": -1, "in_zp": x.quant.zp, **act_params(op, y)}
    m = MatrixSpec(MATRIX_DENSE, weights, bias, mult, shift)
    return Lowered(op.opcode, [op.inputs[0]], list(op.outputs), params, m, op.index)
