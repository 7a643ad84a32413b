"""PACK int8 or int16 (TFLM reference_ops::Pack): the inputs stacked along a new axis, values unchanged."""

from __future__ import annotations

import numpy as np

from cimconv.image import STORE_CONST, OpRec, TensorRec


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    batch = next((x.shape[0] for x, r in zip(inputs, in_recs, strict=True) if r.storage != STORE_CONST), 1)
    parts = [np.broadcast_to(x, (batch,) + x.shape[1:]) if r.storage == STORE_CONST else x
             for x, r in zip(inputs, in_recs, strict=True)]
    return np.stack(parts, axis=op.params["axis"])
