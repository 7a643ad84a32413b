"""STRIDED_SLICE int8 or int16 (TFLM reference_ops::StridedSlice): per axis `count` elements from `start` by `step`,
bytes unchanged; the output's shape drops the shrunk axes."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    x = inputs[0]
    lead = 4 - x.ndim
    p = op.params
    index = [np.arange(x.shape[0])]  # the batch axis (the lowering keeps dimension 0 whole)
    for d in range(lead + 1, 4):
        index.append(p[f"start{d}"] + p[f"step{d}"] * np.arange(p[f"count{d}"]))
    return x[np.ix_(*index)].reshape((x.shape[0], *out_rec.shape[1:]))
