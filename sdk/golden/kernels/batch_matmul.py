"""BATCH_MATMUL int8 (TFLM reference_ops::BatchMatMul): per output element the sum over the depth of
(lhs - lhs_zp) x (rhs - rhs_zp) in int32, rescaled by the multiplier, plus out_zp, saturated; batch dimensions
broadcast. int16 (16x8, zero points 0): the sum in int64 and TFLM's 64-bit requantization."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.fixedpoint import mbqm
from cimsdk.golden.kernels._common import align
from cimsdk.mac.requant import requantize_wide


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    p = op.params
    rank = max(x.ndim for x in inputs)
    a = align(inputs[0], in_recs[0], rank).astype(np.int64) - p["lhs_zp"]
    b = align(inputs[1], in_recs[1], rank).astype(np.int64) - p["rhs_zp"]
    if p["adj_x"]:
        a = np.swapaxes(a, -1, -2)
    if p["adj_y"]:
        b = np.swapaxes(b, -1, -2)
    acc = np.matmul(a, b)  # exact: |acc| < 2^31 (int8) or 2^62 (int16) for the depths the lowering takes
    if out_rec.dtype == "int16":
        return requantize_wide(acc, 0, p["mult"], p["shift"], p["out_zp"], -32768, 32767)
    return np.clip(mbqm(acc, p["mult"], p["shift"]) + p["out_zp"], -128, 127).astype(np.int8)
