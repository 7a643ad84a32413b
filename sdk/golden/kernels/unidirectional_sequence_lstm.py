"""UNIDIRECTIONAL_SEQUENCE_LSTM: TFLM's integer LSTM (int8 activations, int16 cell state), batched over streams.

The input products of every step, requantized to int16 Q3.12 per gate, come from the CiM FULLY_CONNECTED
before this op (`cimconv.lowering.unidirectional_sequence_lstm` explains the operands). Per time step:
each gate's recurrent product requantized to int16 Q3.12, added to its input part with int16 saturation,
through TFLM's 16-bit sigmoid (tanh for the cell gate); cell = sat(sat(forget * cell) + sat(input *
cell_gate)), clipped; hidden = tanh(cell) * output requantized to int8.

The hidden and cell state operands (the executor's state arrays, one row per stream) are updated in
place: they are TFLite variable tensors that live across invocations.
"""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.fixedpoint import mbqm
from cimsdk.golden.kernels._sigmoid16 import sigmoid16, tanh16

GATES = "ifco"


def _sat16(v: np.ndarray) -> np.ndarray:
    return np.clip(v, -32768, 32767)


def _requant(acc: np.ndarray, p: dict) -> np.ndarray:
    """int32 recurrent sums (..., 4n) of the four gates -> int16 Q3.12, each gate with its own multiplier."""
    n = acc.shape[-1] // 4
    mult = np.repeat([p[f"h{g}_mult"] for g in GATES], n)
    shift = np.repeat([p[f"h{g}_shift"] for g in GATES], n)
    return _sat16(mbqm(acc, mult, shift))


def _wrap32(v: np.ndarray) -> np.ndarray:
    """int32 arithmetic as TFLM's accumulators wrap (never reached by valid models)."""
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    p = op.params
    gates_in, w_rec, b_rec, hidden, cell = inputs
    streams, steps = gates_in.shape[0], gates_in.shape[-2]
    n = w_rec.shape[1]
    h = hidden.reshape(streams, n)  # views: writes reach the executor's state arrays
    c = cell.reshape(streams, n)
    gx = gates_in.reshape(streams, steps, 4 * n).astype(np.int64)
    w_rec64, b_rec64 = w_rec.T.astype(np.int64), b_rec.astype(np.int64)
    y = np.empty((streams, steps, n), np.int8)
    for t in range(steps):
        gh = _requant(_wrap32(h.astype(np.int64) @ w_rec64 + b_rec64), p)
        pre = _sat16(gx[:, t] + gh)
        i_g, f_g, o_g = sigmoid16(pre[:, :n]), sigmoid16(pre[:, n:2 * n]), sigmoid16(pre[:, 3 * n:])
        z_g = tanh16(pre[:, 2 * n:3 * n], 0, 0)  # Q3.12 input: TFLM's Tanh with scale power -12
        kept = _sat16(mbqm(f_g * c.astype(np.int64), p["forget_mult"], p["forget_shift"]))
        added = _sat16(mbqm(i_g * z_g, p["input_mult"], p["input_shift"]))
        new_c = _sat16(kept + added)
        if p["cell_clip"] > 0:
            new_c = np.clip(new_c, -p["cell_clip"], p["cell_clip"])
        c[:] = new_c
        squashed = tanh16(new_c, p["tanh_mult"], p["tanh_shift"])
        h[:] = np.clip(mbqm(squashed * o_g, p["hidden_mult"], p["hidden_shift"]) + p["hidden_zp"], -128, 127)
        y[:, t] = h
    return y.reshape((streams, *out_rec.shape[1:]))
