"""PRELU int8 (TFLM reference_ops::BroadcastPrelu4DSlow): (x - in_zp) rescaled by the identity multiplier when
>= 0, else (x - in_zp) x (alpha - alpha_zp) by the alpha multiplier; plus out_zp, saturated; alpha broadcast."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.fixedpoint import mbqm
from cimsdk.golden.kernels._common import align


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    p = op.params
    rank = max(a.ndim for a in inputs)
    v = align(inputs[0], in_recs[0], rank).astype(np.int64) - p["in_zp"]
    a = align(inputs[1], in_recs[1], rank).astype(np.int64) - p["alpha_zp"]
    pos = mbqm(np.broadcast_to(v, np.broadcast_shapes(v.shape, a.shape)), p["identity_mult"], p["identity_shift"])
    neg = mbqm(v * a, p["alpha_mult"], p["alpha_shift"])
    out = np.where(v >= 0, pos, neg) + p["out_zp"]
    return np.clip(out, -128, 127).astype(np.int8)
