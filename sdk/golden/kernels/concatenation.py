"""CONCATENATION int8 or int16: TFLM copies values (no requantization) along the axis."""

from __future__ import annotations

import numpy as np

from cimconv.image import STORE_CONST, OpRec, TensorRec


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    axis = op.params["axis"]
    batch = next((x.shape[0] for x, r in zip(inputs, in_recs, strict=True) if r.storage != STORE_CONST), 1)
    parts = [np.broadcast_to(x, (batch,) + x.shape[1:]) if r.storage == STORE_CONST else x
             for x, r in zip(inputs, in_recs, strict=True)]
    return np.concatenate(parts, axis=axis)
