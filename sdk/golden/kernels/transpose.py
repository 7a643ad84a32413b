"""TRANSPOSE int8 or int16 (TFLM reference_ops::Transpose): the input's axes permuted, values unchanged."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    x = inputs[0]
    lead = 4 - x.ndim
    axes = [op.params[f"perm{i}"] - lead for i in range(lead, 4)]  # axes[0] == 0: the batch stays first
    return np.ascontiguousarray(x.transpose(axes))
