"""SVDF (int8, int8 or int16 activation state) as two program ops: the feature filter on the CiM macro, the rest
on the CPU.

TFLM's integer SVDF per invocation (one frame), with T the type of the activation state and time weights
(int8, as in TFLM's keyword model, or int16: TFLM picks the variant by the time weights' type): shift every
filter's memory of `n_memory` past feature values left by one; the feature filter (an `n_filter x n_input`
matrix times the input, minus its zero point) requantized with `effective_scale_1`, clamped to T, then the
state's zero point added (stored as T, so a clamped value plus the zero point wraps, as the installed TFLM's
does) becomes the newest column; each filter's memory dot its time weights (int32, state zero point
subtracted); the `rank` filters of each unit summed with the bias; requantized with `effective_scale_2`, plus
the output zero point, clamped to int8. The fused activation is not applied (TFLM's integer SVDF ignores it; a
RELU model of ours gives negative outputs in TFLM).

The feature filter is a matrix-vector product with resident weights and an int32 sum requantized by one
multiplier and clamped to T with no zero point, which is exactly what a CiM FULLY_CONNECTED computes, int8
or int16 out (the int16 result path the LSTM's input products use). So it becomes a FULLY_CONNECTED CiM op
writing the clamped values (output zero point 0) into a new tensor of type T; the SVDF CPU op does the rest
and keeps the state tensor (a TFLite variable tensor) in the arena between invocations. TFLM's Prepare takes
both effective scales as float32 products widened to double.
"""

from __future__ import annotations

import numpy as np

from cimconv.image import MATRIX_DENSE
from cimconv.ir import Graph, Operator, Quant, Tensor
from cimconv.lowering import Lowered, MatrixSpec
from cimconv.lowering._conv_common import fold_bias, require_filter_quant
from cimconv.lowering._cpu_common import fail, tensor
from cimconv.qmath import quantize_multiplier

F = np.float32


def _scale_product(a: float, b: float, c: float) -> float:
    """TFLM's SVDF Prepare: float32 a * b / c, then widened to double."""
    return float(F(F(a) * F(b)) / F(c))


RANGE = {"int8": (-128, 127), "int16": (-32768, 32767)}


def _per_tensor(op: Operator, dtype: str, *tensors: Tensor) -> None:
    for t in tensors:
        if t.dtype != dtype or t.quant is None or t.quant.per_channel:
            raise fail(op, f"tensor {t.label} is {t.dtype}{'' if t.quant else ' without quantization'}; SVDF "
                           f"takes per-tensor quantized {dtype} here (int8 input, output and feature weights; "
                           "int8 or int16 state and time weights, both of one type)")


def cpu_work(graph: Graph, low: Lowered) -> tuple[int, int]:
    """(multiply-accumulates, time steps) of the CPU op: each filter's memory dot its time weights."""
    return graph.tensors[low.inputs[2]].size, 1


def lower(graph: Graph, op: Operator) -> list[Lowered]:
    x, wf, wt = tensor(graph, op, 0), tensor(graph, op, 1), tensor(graph, op, 2)
    state = tensor(graph, op, 4)
    y = tensor(graph, op, 0, output=True)
    _per_tensor(op, "int8", x, wf, y)
    if wt.dtype not in RANGE:
        raise fail(op, f"time weights {wt.label} are {wt.dtype}; TFLM's integer SVDF takes int8 or int16")
    _per_tensor(op, wt.dtype, wt, state)  # TFLM reads the state as the time weights' type
    if wf.data is None or wt.data is None:
        raise fail(op, "feature and time weights must be constant tensors")
    if state.data is not None or not state.variable:
        raise fail(op, f"activation state {state.label} is not a variable tensor; TFLM keeps SVDF's state in "
                       "a variable tensor (re-export the model)")
    rank = int(op.options.get("rank", 0))
    if len(wf.shape) != 2 or len(wt.shape) != 2 or len(x.shape) != 2 or len(y.shape) != 2:
        raise fail(op, "expected 2-D input, weights and output")
    n_filter, n_input = wf.shape
    n_memory = wt.shape[1]
    if rank < 1 or n_filter % rank or wt.shape[0] != n_filter or x.shape[1] != n_input:
        raise fail(op, f"rank {rank}, feature weights {list(wf.shape)}, time weights {list(wt.shape)} and "
                       f"input {list(x.shape)} do not fit together")
    n_unit = n_filter // rank
    if x.shape[0] != 1 or y.shape != (1, n_unit) or state.shape != (1, n_filter * n_memory):
        raise fail(op, f"input {list(x.shape)}, output {list(y.shape)}, state {list(state.shape)}: one frame "
                       f"(batch 1) of {n_unit} units with {n_filter} x {n_memory} state values expected")
    require_filter_quant(op, wf, n_filter, axis=0)
    require_filter_quant(op, wt, n_filter, axis=0)
    bias_ids = [op.inputs[3]] if len(op.inputs) > 3 and op.inputs[3] >= 0 else []
    if bias_ids:
        b = graph.tensors[bias_ids[0]]
        if b.data is None or b.dtype != "int32" or b.size != n_unit:
            raise fail(op, f"bias {b.label} must be a constant int32 tensor of {n_unit} values")

    m1, s1 = quantize_multiplier(_scale_product(x.quant.s, wf.quant.s, state.quant.s))
    m2, s2 = quantize_multiplier(_scale_product(state.quant.s, wt.quant.s, y.quant.s))

    lo, hi = RANGE[state.dtype]
    feature = Tensor(len(graph.tensors), f"{state.name}/feature", (1, n_filter), state.dtype,
                     Quant(np.array([state.quant.s], np.float32), np.array([0], np.int64)))
    graph.tensors.append(feature)
    weights = wf.data.reshape(n_filter, n_input).astype(np.int8)
    matrix = MatrixSpec(MATRIX_DENSE, weights, fold_bias(op, np.zeros(n_filter, np.int64), weights, x.quant.zp),
                        np.full(n_filter, m1, np.int32), np.full(n_filter, s1, np.int32))
    fc = Lowered("FULLY_CONNECTED", [op.inputs[0]], [feature.index],
                 {"matrix": -1, "in_zp": x.quant.zp, "out_zp": 0, "act_min": lo, "act_max": hi},
                 matrix, op.index)
    params = {"rank": rank, "state_zp": state.quant.zp, "out_zp": y.quant.zp, "mult": m2, "shift": s2}
    time = Lowered("SVDF", [feature.index, state.index, op.inputs[2], *bias_ids], list(op.outputs), params,
                   None, op.index)
    return [fc, time]
