"""LOGISTIC int8 (TFLM reference_integer_ops::Logistic: gemmlowp logistic on Q4.27), as a 256-entry table; int16
(16x8): TFLM's 16-bit table kernel (`_sigmoid16`)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.fixedpoint import mbqm, rdbpot
from cimsdk.golden.kernels._common import INT8_ALL, apply_lut
from cimsdk.golden.kernels._gemmlowp import logistic
from cimsdk.golden.kernels._sigmoid16 import sigmoid16

INPUT_INTEGER_BITS = 4
OUTPUT_INTEGER_BITS = 8


@lru_cache(maxsize=256)
def table(in_zp: int, radius: int, mult: int, left_shift: int) -> np.ndarray:
    x = INT8_ALL - in_zp
    inside = (x > -radius) & (x < radius)
    xq = np.where(inside, x, 0)  # keep the fixed-point path in range; outside values are replaced below
    q4 = mbqm(xq, mult, left_shift)
    q0 = logistic(q4, INPUT_INTEGER_BITS)
    out = np.clip(rdbpot(q0, 31 - OUTPUT_INTEGER_BITS) - 128, -128, 127)
    out = np.where(x <= -radius, -128, np.where(x >= radius, 127, out))
    return out.astype(np.int8)


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    p = op.params
    if out_rec.dtype == "int16":  # 16x8: TFLM's 16-bit table kernel, Q0.15 out
        return sigmoid16(inputs[0], p["input_mult"], p["input_left_shift"]).astype(np.int16)
    lut = table(p["in_zp"], p["input_range_radius"], p["input_mult"], p["input_left_shift"])
    return apply_lut(lut, inputs[0])
