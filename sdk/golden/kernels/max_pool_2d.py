"""MAX_POOL_2D (int8, int16): TFLM reference_integer_ops::MaxPool, window maxima over valid positions, clamped."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.kernels.average_pool_2d import window_reduce


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    p = op.params
    x = inputs[0]
    low = int(np.iinfo(x.dtype).min)
    out = window_reduce(x, p, (out_rec.shape[1], out_rec.shape[2]), low,
                        lambda a, t: t.copy() if a is None else np.maximum(a, t, out=a))
    return np.clip(out, p["act_min"], p["act_max"]).astype(x.dtype)
