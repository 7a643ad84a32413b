"""QUANTIZE inside the graph (TFLM reference_ops::Requantize): int8 -> int8 as a 256-entry table; int16 ->
int8, int16 or int32 computed directly (MultiplyByQuantizedMultiplier, zero point, clamp to the output type)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.fixedpoint import mbqm
from cimsdk.golden.kernels._common import INT8_ALL, apply_lut


@lru_cache(maxsize=256)
def table(in_zp: int, out_zp: int, mult: int, shift: int) -> np.ndarray:
    return np.clip(mbqm(INT8_ALL - in_zp, mult, shift) + out_zp, -128, 127).astype(np.int8)


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    p = op.params
    x = inputs[0]
    if x.dtype == np.int8 and out_rec.dtype == "int8":
        return apply_lut(table(p["in_zp"], p["out_zp"], p["mult"], p["shift"]), x)
    info = np.iinfo(out_rec.dtype)
    y = mbqm(x.astype(np.int64) - p["in_zp"], p["mult"], p["shift"]) + p["out_zp"]
    return np.clip(y, info.min, info.max).astype(out_rec.dtype)
