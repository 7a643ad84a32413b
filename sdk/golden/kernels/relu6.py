"""RELU6 int8 (TFLM Relu6Quantized): the raw input clamped to [zero, six], codes of the input's quantization."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    p = op.params
    x = inputs[0]
    # TFLM: val > six ? six : (val < zero ? zero : val)
    return np.where(x > p["six"], np.int8(p["six"]), np.where(x < p["zero"], np.int8(p["zero"]), x)).astype(np.int8)
