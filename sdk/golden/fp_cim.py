"""CiM ops of a floating-point (BF16) matrix on the host: the op's input rows or windows gathered, then the
macro's arithmetic of `cimsdk.mac.fpcim` (exponent pre-alignment per group, integer sums, normalization).

The image carries what the arithmetic needs: BF16 cells, the float32 bias bits in the quant records, the
fused activation's float32 bounds in `act_min` / `act_max` (their bits), and the alignment group (the
target's `rows_active`) in its META `fp` entry.
"""

from __future__ import annotations

import numpy as np

from cimconv.image import MATRIX_DEPTHWISE, Image, MatrixRec, OpRec, TensorRec
from cimsdk.mac import fpcim, geometry


def float_param(v: int) -> np.float32:
    """A float32 stored bit for bit in an int32 op parameter."""
    return np.array([v], np.int32).view(np.float32)[0]


def align_group(image: Image) -> int:
    fp = image.meta.get("fp") or {}
    return int(fp.get("align_group", 0)) or 64


class FpCim:
    """The BF16 matrices of one image, their weights aligned once (as the macro holds them once written)."""

    def __init__(self, image: Image):
        self.image = image
        self.group = align_group(image)
        self._w: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def weights(self, mi: int) -> tuple[np.ndarray, np.ndarray]:
        w = self._w.get(mi)
        if w is None:
            w = self._w[mi] = fpcim.aligned_weights(self.image.matrices[mi].weights, self.group)
        return w

    def run(self, op: OpRec, x: np.ndarray, out_rec: TensorRec) -> np.ndarray:
        """One op over a batch: float32 (B, ...) in, float32 (B, ...) out."""
        p = op.params
        mi = p["matrix"]
        m: MatrixRec = self.image.matrices[mi]
        lo, hi = float_param(p["act_min"]), float_param(p["act_max"])
        xm, xe = fpcim.encode(x)
        out_hw = None if op.opcode == "FULLY_CONNECTED" else (out_rec.shape[1], out_rec.shape[2])
        if m.kind == MATRIX_DEPTHWISE:
            wm = geometry.depthwise_windows(xm, p, out_hw)
            we = geometry.depthwise_windows(xe, p, out_hw)
            y = fpcim.depthwise(wm, we, self.weights(mi), self.group, m.float_bias, lo, hi)
        else:
            rm = geometry.dense_rows(op.opcode, xm, p, m.rows, out_hw)
            re = geometry.dense_rows(op.opcode, xe, p, m.rows, out_hw)
            y = fpcim.dense(rm, re, self.weights(mi), self.group, m.float_bias, lo, hi)
        return y.reshape((x.shape[0], *out_rec.shape[1:]))
