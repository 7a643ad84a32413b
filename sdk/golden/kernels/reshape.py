"""RESHAPE: the same bytes with the output's shape (batch axis kept first)."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    x = inputs[0]
    return x.reshape((-1,) + tuple(out_rec.shape[1:]))
