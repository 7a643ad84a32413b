"""PAD int8 or int16 with constant paddings (TFLM reference_ops::Pad): pad value is the output zero point."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    p = op.params
    x = inputs[0]
    rank = x.ndim
    widths = [(p[f"before{i}"], p[f"after{i}"]) for i in range(4 - rank, 4)]
    widths[0] = (0, 0)  # the batch axis (lowering rejects padding along dim 0)
    return np.pad(x, widths, constant_values=x.dtype.type(p["pad_value"]))
