"""SOFTMAX int8 -> int8 or int16 (TFLM reference_ops::Softmax, gemmlowp fixed point) over the last axis.

exp(x - max) depends only on the difference (-255..0), so it is a table; per row there is one sum and
one reciprocal, computed vectorized over all rows of the batch.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.fixedpoint import rdbpot, srdhm
from cimsdk.golden.kernels import _float
from cimsdk.golden.kernels._gemmlowp import exp_on_negative_values, get_reciprocal

SCALED_DIFF_INTEGER_BITS = 5
ACCUM_INTEGER_BITS = 12


@lru_cache(maxsize=256)
def tables(mult: int, left_shift: int, diff_min: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid, exp Q0.31, exp rescaled to Q12.19) indexed by diff + 255."""
    diff = np.arange(-255, 1, dtype=np.int64)
    valid = diff >= diff_min
    rescaled = srdhm(np.where(valid, diff, 0) * (1 << left_shift), mult)
    e = np.where(valid, exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS), 0)
    return valid, e, rdbpot(e, ACCUM_INTEGER_BITS)


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    p = op.params
    x = inputs[0]
    if x.dtype == np.float32:  # a float model on a floating-point target (sram-fpcim)
        return _float.softmax(x)
    valid, e, e_acc = tables(p["input_mult"], p["input_left_shift"], p["diff_min"])
    xi = x.astype(np.int16)
    idx = xi - xi.max(axis=-1, keepdims=True) + 255
    total = e_acc[idx].sum(axis=-1, keepdims=True)
    scale, nbou = get_reciprocal(total, ACCUM_INTEGER_BITS)
    info = np.iinfo(out_rec.dtype)  # int8, or int16 (zero point -32768, scale 1/65536)
    out = rdbpot(srdhm(scale, e[idx]), nbou + 31 - info.bits) + info.min
    out = np.where(valid[idx], np.clip(out, info.min, info.max), info.min)
    return out.astype(out_rec.dtype)
