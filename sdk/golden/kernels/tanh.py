"""TANH int8 (TFLM reference_integer_ops::Tanh: gemmlowp tanh on Q4.27, output codes of scale 1/128), as a
256-entry table; int16 (16x8): TFLM's 16-bit table kernel (`_sigmoid16`)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.fixedpoint import mbqm, rdbpot
from cimsdk.golden.kernels._common import INT8_ALL, apply_lut
from cimsdk.golden.kernels._gemmlowp import tanh
from cimsdk.golden.kernels._sigmoid16 import tanh16

INPUT_INTEGER_BITS = 4
OUTPUT_SCALE_BITS = 7


@lru_cache(maxsize=256)
def table(in_zp: int, radius: int, mult: int, left_shift: int) -> np.ndarray:
    x = INT8_ALL - in_zp
    inside = (x > -radius) & (x < radius)
    q4 = mbqm(np.where(inside, x, 0), mult, left_shift)  # outside values are replaced below
    out = np.clip(rdbpot(tanh(q4, INPUT_INTEGER_BITS), 31 - OUTPUT_SCALE_BITS), -128, 127)
    return np.where(x <= -radius, -128, np.where(x >= radius, 127, out)).astype(np.int8)


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    if out_rec.dtype == "int16":  # 16x8: TFLM's 16-bit table kernel, Q0.15 out
        return tanh16(inputs[0], op.params["input_mult"], op.params["input_left_shift"]).astype(np.int16)
    return apply_lut(table(*op.param_list()), inputs[0])
