"""CiM ops of a floating-point (BF16) matrix on the host: the op's input rows or windows gathered, then the
macro's arithmetic of `cimsdk.mac.fpcim` (exponent pre-alignment per group, integer sums, normalization).

The image carries what the arithmetic needs: BF16 cells, the float32 bias bits in the quant records and the
alignment group (the target's `rows_active`) in their multiplier's place, the fused activation's float32
bounds in `act_min` / `act_max` (their bits).
"""

from __future__ import annotations

import numpy as np

from cimconv.image import MATRIX_DEPTHWISE, MATRIX_FORMAT_BF16, Image, MatrixRec, OpRec, TensorRec
from cimsdk.mac import fpcim, geometry


def float_param(v: int) -> np.float32:
    """A float32 stored bit for bit in an int32 op parameter."""
    return np.array([v], np.int32).view(np.float32)[0]


def align_group(image: Image) -> int:
    """The exponent-alignment group of the image's BF16 matrices (each quant record's multiplier)."""
    groups = {int(m.mult[0]) for m in image.matrices if m.format == MATRIX_FORMAT_BF16}
    return groups.pop() if len(groups) == 1 else 0


class FpCim:
    """The BF16 matrices of one image, their weights aligned once (as the macro holds them once written).
    `group` overrides each matrix's alignment group (1: no alignment, BF16 rounding alone)."""

    def __init__(self, image: Image, group: int | None = None):
        self.image = image
        self.override = group
        self._w: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def group(self, mi: int) -> int:
        return self.override or int(self.image.matrices[mi].mult[0])

    def weights(self, mi: int) -> tuple[np.ndarray, np.ndarray]:
        w = self._w.get(mi)
        if w is None:
            w = self._w[mi] = fpcim.aligned_weights(self.image.matrices[mi].weights, self.group(mi))
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
            y = fpcim.depthwise(wm, we, self.weights(mi), self.group(mi), m.float_bias, lo, hi)
        else:
            rm = geometry.dense_rows(op.opcode, xm, p, m.rows, out_hw)
            re = geometry.dense_rows(op.opcode, xe, p, m.rows, out_hw)
            y = fpcim.dense(rm, re, self.weights(mi), self.group(mi), m.float_bias, lo, hi)
        return y.reshape((x.shape[0], *out_rec.shape[1:]))
