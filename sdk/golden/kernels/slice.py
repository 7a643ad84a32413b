"""SLICE int8 or int16 (TFLM reference_ops::Slice): the output's extent of the input from `begin`, bytes unchanged."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    x = inputs[0]
    lead = 4 - x.ndim
    index = [slice(None)]  # the batch axis (the lowering keeps dimension 0 whole)
    for d in range(1, x.ndim):
        b = op.params[f"begin{lead + d}"]
        index.append(slice(b, b + out_rec.shape[d]))
    return np.ascontiguousarray(x[tuple(index)])
