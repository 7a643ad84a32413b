"""ASSIGN_VARIABLE: the state tensor takes the value, through the 256-entry table when there is one (the
executor keeps it for the next invocation)."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    x = inputs[0]
    if len(inputs) > 1:
        x = inputs[1][x.astype(np.int16) + 128]
    return x.reshape((-1,) + tuple(out_rec.shape[1:])).copy()
