"""SPACE_TO_DEPTH int8 (TFLM reference_ops::SpaceToDepth): output[b, h, w, d] is input[b, h * bs + dy,
w * bs + dx, d % in_depth] with d / in_depth = dy * bs + dx; bytes unchanged."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    x = inputs[0]
    bs = op.params["block_size"]
    n, h, w, c = x.shape
    return x.reshape(n, h // bs, bs, w // bs, bs, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, h // bs, w // bs, -1)
