"""GATHER int8 (TFLM reference Gather): slices of the input along `axis` picked by constant indices."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    x, idx = inputs
    return np.take(x, np.asarray(idx, np.int64), axis=op.params["axis"])
