"""RELU6 int8 or int16 (TFLM Relu6Quantized): the raw input clamped to [zero, six], codes of the input's quantization."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    p = op.params
    x = inputs[0]
    # TFLM: val > six ? six : (val < zero ? zero : val)
    return np.where(x > p["six"], p["six"], np.where(x < p["zero"], p["zero"], x)).astype(x.dtype)
