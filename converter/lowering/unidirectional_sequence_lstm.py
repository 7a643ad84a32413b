"""UNIDIRECTIONAL_SEQUENCE_LSTM (int8 activations and weights, int16 cell state): a CiM op and a CPU op.

TFLM's integer LSTM (kernels/unidirectional_sequence_lstm.cc, lstm_eval.h) runs, per time step and for each
gate g in (input, forget, cell, output): an int8 x int8 product of the step's input with the gate's input
weights plus its bias, requantized to int16 at scale 2^-12 (Q3.12); the same for the previous hidden state
with the recurrent weights (no bias); the two added with int16 saturation; a sigmoid (tanh for the cell gate: the
layer's fused activation) on 16-bit fixed point. Then cell = forget * cell + input * cell_gate (each
product requantized to int16, the sum saturated, then clipped to the quantized `cell_clip`), and hidden =
tanh(cell) * output requantized to int8 with the hidden state's zero point; the hidden state is the step's
output row. Hidden (int8) and cell (int16) states are TFLite variable tensors kept between invocations.

TFLM's kernel refuses peephole, projection, layer-norm and CIFG variants (LstmTensors::ValidateTensorStatus
wants those tensors absent and all eight weight matrices present), so they are refused here by name.

The input products do not depend on the state, so those of every step run first, as one FULLY_CONNECTED
on the CiM macro over the [time, n_input] sequence: the four gates' input weights stacked in (input,
forget, cell, output) order as one [4n, n_input] matrix with the weights resident, the gate biases with
the input zero point folded in, each gate's columns with its own multiplier, clamped to int16 with zero
point 0 into an int16 [1, time, 4n] tensor of the converter's own (Q3.12). The LSTM CPU op then reads
those pre-activations, the recurrent weights stacked alike [4n, n] with the hidden zero point folded into
a bias, and the hidden and cell state tensors; its parameters are the recurrent requantizations and the
three element-wise products' multipliers, computed as TFLM's Prepare does (double products of float32
scales). The cost: 2 x time x 4n bytes of arena for the pre-activations (31,360 for TFLM's micro_speech
LSTM), where TFLM's kernel keeps four int16 buffers of n.
"""

from __future__ import annotations

import math

import numpy as np

from cimconv.image import MATRIX_DENSE, STORE_ARENA, STORE_CONST, Image, OpRec
from cimconv.image_check import SHIFT_MAX, SHIFT_MIN, _fail, _in_range, _recs
from cimconv.ir import Graph, Operator, Quant, Tensor
from cimconv.lowering import Lowered, MatrixSpec
from cimconv.lowering._cpu_common import f32, fail, tensor
from cimconv.qmath import quantize_multiplier

GATES = ("i", "f", "c", "o")
GATE_INPUT = 2.0**-12  # scale of the gates' pre-activations (Q3.12), TFLM's nonlinear_input_scale
GATE_OUTPUT = 2.0**-15  # scale of the sigmoid/tanh outputs (Q0.15)
# TFLite input positions: 1-4 input weights, 5-8 recurrent weights (i, f, c, o), 12-15 biases, 18/19 states
INPUT_W, RECURRENT_W, BIAS, HIDDEN, CELL = (1, 2, 3, 4), (5, 6, 7, 8), (12, 13, 14, 15), 18, 19
ABSENT = {9: "peephole", 10: "peephole", 11: "peephole", 16: "projection", 17: "projection",
          20: "layer norm", 21: "layer norm", 22: "layer norm", 23: "layer norm"}


def _present(op: Operator, pos: int) -> bool:
    return pos < len(op.inputs) and op.inputs[pos] >= 0


def tanh_params(scale_power: int) -> tuple[int, int]:
    """TFLM's lstm_internal::Tanh: (input_multiplier, input_left_shift) for a Q(-scale_power) int16 input."""
    shift = 15 + scale_power - 3
    return (3, -shift) if shift < 0 else (0, shift)


def _weights(graph: Graph, op: Operator, positions: tuple[int, ...], cols: int, what: str) -> list[np.ndarray]:
    mats = []
    for pos in positions:
        if not _present(op, pos):
            raise fail(op, f"{what} weights of gate {GATES[positions.index(pos)]} are missing (a CIFG LSTM); "
                           "TFLM's integer LSTM takes all four gates")
        w = graph.tensors[op.inputs[pos]]
        if w.data is None or w.dtype != "int8" or w.quant is None or w.quant.per_channel or w.quant.zp != 0:
            raise fail(op, f"{what} weights {w.label} must be constant int8 with one scale and zero point 0")
        if len(w.shape) != 2 or w.shape[1] != cols:
            raise fail(op, f"{what} weights {w.label} have shape {list(w.shape)}; expected [units, {cols}]")
        mats.append(w)
    return mats


def _mul(in1: float, in2: float, out: float) -> tuple[int, int]:
    """CreateInterGateMulParams: double(in1) * double(in2) / double(out)."""
    return quantize_multiplier(in1 * in2 / out)


def lower(graph: Graph, op: Operator) -> list[Lowered]:
    for pos, what in ABSENT.items():
        if _present(op, pos):
            raise fail(op, f"input {pos} ({what}) is given; TFLM's integer LSTM runs the standard LSTM only "
                           "(no peephole, projection or layer norm), and so does cimsdk")
    x, y = tensor(graph, op, 0), tensor(graph, op, 0, output=True)
    h, c = tensor(graph, op, HIDDEN), tensor(graph, op, CELL)
    if op.options.get("time_major", False):
        raise fail(op, "time-major input is not supported; export the model batch-major (Keras' default)")
    for t, dtype in ((x, "int8"), (y, "int8"), (h, "int8"), (c, "int16")):
        if t.dtype != dtype or t.quant is None or t.quant.per_channel:
            raise fail(op, f"tensor {t.label} is {t.dtype}; the integer LSTM takes int8 input, output and hidden "
                           "state and an int16 cell state, each with one scale")
    for t in (h, c):
        if t.data is not None or not t.variable:
            raise fail(op, f"state {t.label} is not a variable tensor; TFLM keeps the LSTM's states in variable "
                           "tensors (re-export the model)")
    if len(x.shape) != 3 or x.shape[0] != 1:
        raise fail(op, f"input {list(x.shape)}: one sequence (batch 1) of [time, features] expected")
    _, steps, n_input = x.shape
    wx = _weights(graph, op, INPUT_W, n_input, "input")
    n = wx[0].shape[0]
    wh = _weights(graph, op, RECURRENT_W, n, "recurrent")
    if any(w.shape[0] != n for w in wx + wh):
        raise fail(op, "the gates' weights have different numbers of units")
    for t in (x, h, c, *wx, *wh):
        if not (math.isfinite(t.quant.s) and t.quant.s > 0):
            raise fail(op, f"tensor {t.label} has scale {t.quant.s}; scales must be finite and positive")
    if tuple(y.shape) != (1, steps, n) or h.size != n or c.size != n:
        raise fail(op, f"output {list(y.shape)}, hidden state {list(h.shape)} and cell state {list(c.shape)} do "
                       f"not hold {steps} steps of {n} units")
    biases = []
    for pos in BIAS:
        b = graph.tensors[op.inputs[pos]] if _present(op, pos) else None
        if b is None or b.data is None or b.dtype != "int32" or b.size != n:
            raise fail(op, f"gate bias (input {pos}) must be a constant int32 tensor of {n} values")
        biases.append(b.data.reshape(-1).astype(np.int64))
    act = op.options.get("fused_activation_function", "TANH") or "NONE"
    if act != "TANH":
        raise fail(op, f"cell gate activation {act}; TFLM's integer LSTM takes TANH (its only activation besides "
                       "the gates' sigmoid)")
    cell_clip = f32(op.options.get("cell_clip", 0.0) or 0.0)
    if cell_clip < 0:
        raise fail(op, f"cell_clip {cell_clip} is negative")

    w_in = np.concatenate([w.data.reshape(n, n_input) for w in wx]).astype(np.int8)
    w_rec = np.concatenate([w.data.reshape(n, n) for w in wh]).astype(np.int8)
    b_in = np.concatenate(biases) - x.quant.zp * w_in.astype(np.int64).sum(axis=1)
    b_rec = -h.quant.zp * w_rec.astype(np.int64).sum(axis=1)
    if np.abs(b_in).max() >= 2**31 or np.abs(b_rec).max() >= 2**31:
        raise fail(op, "a bias with the zero point folded in overflows int32")

    # the input products of every step: one CiM FULLY_CONNECTED over the sequence, int16 Q3.12 out
    x_mult, x_shift = zip(*(quantize_multiplier(f32(x.quant.s) * f32(w.quant.s) / GATE_INPUT) for w in wx),
                          strict=True)
    gates_in = Tensor(len(graph.tensors), f"{y.name}/input_gates", (1, steps, 4 * n), "int16",
                      Quant(np.array([GATE_INPUT], np.float32), np.array([0], np.int64)))
    graph.tensors.append(gates_in)
    matrix = MatrixSpec(MATRIX_DENSE, w_in, b_in.astype(np.int32), np.repeat(np.array(x_mult, np.int32), n),
                        np.repeat(np.array(x_shift, np.int32), n))
    fc = Lowered("FULLY_CONNECTED", [op.inputs[0]], [gates_in.index],
                 {"matrix": -1, "in_zp": x.quant.zp, "out_zp": 0, "act_min": -32768, "act_max": 32767},
                 matrix, op.index)

    params: dict[str, int] = {}
    for g, wr in zip(GATES, wh, strict=True):
        params[f"h{g}_mult"], params[f"h{g}_shift"] = quantize_multiplier(f32(h.quant.s) * f32(wr.quant.s) / GATE_INPUT)
    cs = f32(c.quant.s)
    power = round(math.log2(cs))  # TFLM's CheckedLog2: the rounded power, used even when not exact
    params["forget_mult"], params["forget_shift"] = _mul(GATE_OUTPUT, cs, cs)
    params["input_mult"], params["input_shift"] = _mul(GATE_OUTPUT, GATE_OUTPUT, cs)
    params["hidden_mult"], params["hidden_shift"] = _mul(GATE_OUTPUT, GATE_OUTPUT, f32(h.quant.s))
    params["hidden_zp"] = h.quant.zp
    params["cell_clip"] = int(min(max(cell_clip / cs, -32768.0), 32767.0)) if cell_clip > 0 else 0
    if not -30 <= power <= 2 or (cell_clip > 0 and params["cell_clip"] == 0):
        raise fail(op, f"cell state scale {cs} (2^{power}) and cell_clip {cell_clip} are outside what TFLM's "
                       "integer LSTM handles")
    params["tanh_mult"], params["tanh_shift"] = tanh_params(power)

    def const(name: str, data: np.ndarray, dtype: str) -> int:
        t = Tensor(len(graph.tensors), f"{y.name}/{name}", data.shape, dtype,
                   Quant(np.array([0.0], np.float32), np.array([0], np.int64)), data.astype(dtype))
        graph.tensors.append(t)
        return t.index

    inputs = [gates_in.index, const("recurrent_weights", w_rec, "int8"), const("recurrent_bias", b_rec, "int32"),
              h.index, c.index]
    return [fc, Lowered("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, list(op.outputs), params, None, op.index)]


def cpu_work(graph: Graph, low: Lowered) -> tuple[int, int]:
    """(multiply-accumulates, time steps) of the CPU op: the recurrent products, 4n x n per step."""
    steps = graph.tensors[low.inputs[0]].shape[1]
    return steps * graph.tensors[low.inputs[1]].size, steps


def check_record(img: Image, op: OpRec, at: str) -> None:
    (gx, w_rec, b_rec, h, c), y = _recs(img, op, at, (5, 5))
    if (gx.dtype, w_rec.dtype, b_rec.dtype, h.dtype, c.dtype, y.dtype) != (
            "int16", "int8", "int32", "int8", "int16", "int8"):
        raise _fail(at, "operand types are not int16 input gates, int8 weights and output, int32 bias, int8/int16 "
                        "states")
    if not (h.state and c.state) or op.inputs[3] == op.inputs[4] or gx.storage != STORE_ARENA \
            or w_rec.storage != STORE_CONST or b_rec.storage != STORE_CONST:
        raise _fail(at, "expects an activation, constant weights and bias, and two state tensors")
    if len(gx.shape) != 3 or gx.shape[0] != 1 or len(w_rec.shape) != 2:
        raise _fail(at, f"input gates {list(gx.shape)} are not one [time, 4 x units] sequence")
    n4, n = w_rec.shape
    if n4 != 4 * n or gx.shape[2] != n4 or b_rec.shape != (n4,) or math.prod(h.shape) != n \
            or math.prod(c.shape) != n or y.shape != (1, gx.shape[1], n):
        raise _fail(at, f"input gates {list(gx.shape)}, weights {list(w_rec.shape)}, states and output "
                        f"{list(y.shape)} do not fit together")
    p = op.params
    for name in [*(f"h{g}" for g in GATES), "forget", "input", "hidden"]:
        _in_range(at, p, 0, (1 << 31) - 1, f"{name}_mult")
        _in_range(at, p, SHIFT_MIN, SHIFT_MAX, f"{name}_shift")
    _in_range(at, p, -128, 127, "hidden_zp")
    _in_range(at, p, 0, 32767, "cell_clip")
    _in_range(at, p, 0, 3, "tanh_mult")
    _in_range(at, p, 0, 18 if p["tanh_mult"] else 14, "tanh_shift")
