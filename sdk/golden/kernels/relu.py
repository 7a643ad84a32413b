"""RELU int8 or int16 (TFLM ReluQuantized): requantize (input - in_zp) to the output and clamp, as a table over
every input value."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.fixedpoint import mbqm
from cimsdk.golden.kernels._common import ALL_VALUES, apply_lut


@lru_cache(maxsize=256)
def table(dtype: str, in_zp: int, out_zp: int, mult: int, shift: int, act_min: int, act_max: int) -> np.ndarray:
    return np.clip(mbqm(ALL_VALUES[dtype] - in_zp, mult, shift) + out_zp, act_min, act_max).astype(dtype)


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    return apply_lut(table(out_rec.dtype, *op.param_list()), inputs[0])
