"""MAXIMUM int8 or int16 (TFLM reference_ops::MaximumMinimumBroadcastSlow): the larger raw value, 4-D broadcasting."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.kernels._common import align


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    rank = max(x.ndim for x in inputs)
    return np.maximum(align(inputs[0], in_recs[0], rank), align(inputs[1], in_recs[1], rank))
