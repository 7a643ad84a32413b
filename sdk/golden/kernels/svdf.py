"""SVDF's CPU part (TFLM's integer SVDF, int8 or int16 state), vectorized over a batch of independent streams.

The feature filter ran before this op as a FULLY_CONNECTED on the CiM macro and wrote each filter's newest
value, clamped to the state's type (int8 or int16) with zero point 0 (`cimconv.lowering.svdf`). Here, as
TFLM does per invocation: each filter's memory shifts left by one; the newest value plus the state's zero
point (a store of the state's type, so it wraps as TFLM's does) becomes its last column; each filter's
memory, zero point removed, dot its time weights (of the state's type); the
`rank` filters of a unit summed with the bias; requantized, plus the output zero point, clamped to int8 (no
fused activation: TFLM's integer SVDF ignores it).

The state operand (inputs[1], the executor's state array of shape (batch, n_filter * n_memory)) is
updated in place: it is a TFLite variable tensor that lives across invocations.
"""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.fixedpoint import mbqm


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    p = op.params
    feature, state, weights_time = inputs[0], inputs[1], inputs[2]
    n_filter, n_memory = weights_time.shape
    batch = feature.shape[0]
    mem = state.reshape(batch, n_filter, n_memory)  # a view: writes reach the caller's state array
    mem[:, :, :-1] = mem[:, :, 1:].copy()
    newest = feature.reshape(batch, n_filter).astype(np.int32) + p["state_zp"]
    mem[:, :, -1] = newest.astype(mem.dtype)  # wraps as TFLM's store does
    acc = np.einsum("bfm,fm->bf", mem.astype(np.int64) - p["state_zp"], weights_time.astype(np.int64))
    units = acc.reshape(batch, n_filter // p["rank"], p["rank"]).sum(axis=-1)
    if len(inputs) > 3:
        units = units + inputs[3].reshape(-1).astype(np.int64)
    units = units.astype(np.int32)  # TFLM sums in int32: int16 state and time weights could wrap it, as there
    y = mbqm(units, p["mult"], p["shift"]) + p["out_zp"]
    return np.clip(y, -128, 127).astype(np.int8).reshape((batch, *out_rec.shape[1:]))
