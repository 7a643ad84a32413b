"""MEAN int8 or int16 (TFLM reduce.h QuantizedMeanOrSum, integer path): sum(x - in_zp) over the axes, then one
MultiplyByQuantizedMultiplier whose multiplier already carries 1/count (see cimconv.lowering.mean)."""

from __future__ import annotations

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.fixedpoint import mbqm


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    p = op.params
    x = inputs[0]
    mask = p["axis_mask"]
    # dim 0 is the batch: never reduced (the lowering only allows it when the model's dim 0 is 1)
    axes = tuple(a for a in range(1, x.ndim) if mask >> a & 1)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64)) if axes else 1
    total = x.sum(axis=axes, dtype=np.int64, keepdims=True) if axes else x.astype(np.int64)
    out = mbqm(total - p["in_zp"] * count, p["mult"], p["shift"]) + p["out_zp"]
    info = np.iinfo(x.dtype)
    out = np.clip(out, info.min, info.max).astype(x.dtype)
    return out.reshape((x.shape[0],) + tuple(out_rec.shape[1:]))
