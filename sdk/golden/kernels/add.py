"""ADD (int8, int16): TFLM reference_integer_ops::AddFunc (int8) and reference_ops::AddElementwise (int16, the
same arithmetic with left_shift 15), with 4-D broadcasting.

An int8 output depends only on the two int8 input values, so the op is a 256 x 256 table built once
per parameter set with TFLM's arithmetic; the batch then costs one gather per element. int16 is computed
element by element (vectorized).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.fixedpoint import mbqm
from cimsdk.golden.kernels._common import INT8_ALL, align, pair_lookup


@lru_cache(maxsize=128)
def table(in1_offset: int, in2_offset: int, out_offset: int, left_shift: int, in1_mult: int, in1_shift: int,
          in2_mult: int, in2_shift: int, out_mult: int, out_shift: int, act_min: int, act_max: int
          ) -> np.ndarray:
    """(256, 256) int8: output for (in1 + 128, in2 + 128)."""
    s1 = mbqm((INT8_ALL + in1_offset) * (1 << left_shift), in1_mult, in1_shift)
    s2 = mbqm((INT8_ALL + in2_offset) * (1 << left_shift), in2_mult, in2_shift)
    out = mbqm(s1[:, None] + s2[None, :], out_mult, out_shift) + out_offset
    return np.clip(out, act_min, act_max).astype(np.int8)


def direct(a: np.ndarray, b: np.ndarray, in1_offset: int, in2_offset: int, out_offset: int, left_shift: int,
           in1_mult: int, in1_shift: int, in2_mult: int, in2_shift: int, out_mult: int, out_shift: int,
           act_min: int, act_max: int) -> np.ndarray:
    """The same arithmetic on broadcast arrays (int16: left_shift 15 keeps every step within int32)."""
    s1 = mbqm((a.astype(np.int64) + in1_offset) * (1 << left_shift), in1_mult, in1_shift)
    s2 = mbqm((b.astype(np.int64) + in2_offset) * (1 << left_shift), in2_mult, in2_shift)
    return np.clip(mbqm(s1 + s2, out_mult, out_shift) + out_offset, act_min, act_max)


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    rank = max(x.ndim for x in inputs)
    a = align(inputs[0], in_recs[0], rank)
    b = align(inputs[1], in_recs[1], rank)
    if out_rec.dtype == "int16":
        return direct(a, b, *op.param_list()).astype(np.int16)
    return pair_lookup(table(*op.param_list()), a, b)
