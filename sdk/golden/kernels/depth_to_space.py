"""DEPTH_TO_SPACE int8 (TFLM reference_ops::DepthToSpace): output[b, h, w, d] is input[b, h / bs, w / bs,
d + ((h % bs) * bs + w % bs) * out_depth]; bytes unchanged."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    x = inputs[0]
    bs = op.params["block_size"]
    n, h, w, c = x.shape
    # channel index = (dy * bs + dx) * out_depth + d
    return x.reshape(n, h, w, bs, bs, c // (bs * bs)).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * bs, w * bs, -1)
