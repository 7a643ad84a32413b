"""MUL (int8, int16): TFLM reference_integer_ops::MulElementwise with 4-D broadcasting; int8 as a 256 x 256 table,
int16 (16x8) element by element (vectorized)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.fixedpoint import mbqm
from cimsdk.golden.kernels._common import INT8_ALL, align, pair_lookup


@lru_cache(maxsize=128)
def table(in1_offset: int, in2_offset: int, out_offset: int, out_mult: int, out_shift: int, act_min: int,
          act_max: int) -> np.ndarray:
    """(256, 256) int8: output for (in1 + 128, in2 + 128)."""
    prod = (INT8_ALL + in1_offset)[:, None] * (INT8_ALL + in2_offset)[None, :]
    out = mbqm(prod, out_mult, out_shift) + out_offset
    return np.clip(out, act_min, act_max).astype(np.int8)


def run(op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec], out_rec: TensorRec) -> np.ndarray:
    rank = max(x.ndim for x in inputs)
    a = align(inputs[0], in_recs[0], rank)
    b = align(inputs[1], in_recs[1], rank)
    if out_rec.dtype == "int16":
        p = op.params
        prod = (a.astype(np.int64) + p["in1_offset"]) * (b.astype(np.int64) + p["in2_offset"])
        out = mbqm(prod, p["out_mult"], p["out_shift"]) + p["out_offset"]
        return np.clip(out, p["act_min"], p["act_max"]).astype(np.int16)
    return pair_lookup(table(*op.param_list()), a, b)
