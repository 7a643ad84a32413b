"""Helpers shared by the host CPU kernels: batch alignment for broadcasting, int8 lookup tables."""

from __future__ import annotations

import numpy as np

from cimconv.image import STORE_CONST, TensorRec


def align(x: np.ndarray, rec: TensorRec, rank: int) -> np.ndarray:
    """Right-align a tensor to `rank` dims as TFLM extends shapes, keeping a batch axis first.

    Constants come unbatched (model shape), so numpy's right-aligned broadcasting already matches
    TFLM. An activation's dim 0 is the batch, so missing dims go after it, not before.
    """
    if rec.storage == STORE_CONST or x.ndim >= rank:
        return x
    return x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:])


def apply_lut(lut: np.ndarray, x: np.ndarray) -> np.ndarray:
    """lut[x + 128] for int8 x, with lut a 256-entry int8 table; lut[x + 32768] for int16 x (65,536 entries)."""
    if x.dtype == np.int16:
        return lut[x.astype(np.int32) + 32768]
    return lut[x.astype(np.int16) + 128] if x.dtype != np.uint8 else lut[x]


INT8_ALL = np.arange(-128, 128, dtype=np.int64)
ALL_VALUES = {"int8": INT8_ALL, "int16": np.arange(-32768, 32768, dtype=np.int64)}  # every value, in order


def pair_lookup(table: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """table[a + 128, b + 128] for broadcast int8 a, b (table: (256, 256) int8)."""
    ia = (a.view(np.uint8) ^ np.uint8(0x80)).astype(np.uint16) << 8
    ib = b.view(np.uint8) ^ np.uint8(0x80)
    return table.reshape(-1)[ia | ib]
