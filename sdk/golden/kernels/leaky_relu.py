"""LEAKY_RELU int8 or int16 (TFLM reference_ops::QuantizeLeakyRelu): (input - in_zp) rescaled by the identity or
the alpha multiplier by its sign, plus out_zp, saturated; a table over every input value."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.fixedpoint import mbqm
from cimsdk.golden.kernels._common import ALL_VALUES, apply_lut


@lru_cache(maxsize=256)
def table(dtype: str, in_zp: int, out_zp: int, alpha_mult: int, alpha_shift: int, identity_mult: int,
          identity_shift: int) -> np.ndarray:
    v = ALL_VALUES[dtype] - in_zp
    out = np.where(v >= 0, mbqm(v, identity_mult, identity_shift), mbqm(v, alpha_mult, alpha_shift)) + out_zp
    info = np.iinfo(dtype)
    return np.clip(out, info.min, info.max).astype(dtype)


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    return apply_lut(table(out_rec.dtype, *op.param_list()), inputs[0])
