"""CiM ops on the host, tile by tile: gather input vectors, matrix-vector products per tile with partial
sums accumulated across row tiles, then the digital periphery's bias and requantization.

`CimModel` is the hardware model. The ideal model multiplies exactly (what an exact digital macro, or an
analog one with no noise and a lossless ADC, computes); `cimsdk.sim` subclasses it with device
non-idealities by overriding `tile_matvec` / `tile_depthwise`.
"""

from __future__ import annotations

import numpy as np
from cimconv import energy
from cimconv.image import MATRIX_DEPTHWISE, Image, MatrixRec, OpRec, TensorRec, TileRec
from cimconv.target import Target, load_target
from cimsdk.golden.fixedpoint import requantize

# float32 sums of int8 x int8 products are exact while |sum| <= 2^24: 1024 rows of 128 x 128.
_F32_EXACT_ROWS = (1 << 24) // (128 * 128)


def gather_windows(x: np.ndarray, p: dict[str, int], out_hw: tuple[int, int]) -> np.ndarray:
    """Input windows (B, OH, OW, kh, kw, C) with positions outside the input filled with in_zp."""
    b, h, w, c = x.shape
    kh, kw = p["kernel_h"], p["kernel_w"]
    sh, sw, dh, dw = p["stride_h"], p["stride_w"], p["dil_h"], p["dil_w"]
    oh, ow = out_hw
    pt, pl = p["pad_top"], p["pad_left"]
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    pb = max(need_h - h - pt, 0)
    pr = max(need_w - w - pl, 0)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=p["in_zp"]) if (pt or pb or pl or pr) else x
    s = xp.strides
    view = np.lib.stride_tricks.as_strided(
        xp, shape=(b, oh, ow, kh, kw, c), strides=(s[0], s[1] * sh, s[2] * sw, s[1] * dh, s[2] * dw, s[3]),
        writeable=False)
    return view


class CimModel:
    """Hardware model of the macros an image was mapped onto."""

    def __init__(self, image: Image, target: Target | None = None):
        self.image = image
        self.target = target
        self._wf: dict[int, np.ndarray] = {}

    @classmethod
    def ideal(cls, image: Image) -> CimModel:
        return cls(image, None)

    def target_or_load(self) -> Target:
        if self.target is None:
            self.target = load_target(self.image.target)
        return self.target

    # -- per tile: overridden by non-ideal models -------------------------------------------------
    def _weights_f(self, mi: int) -> np.ndarray:
        w = self._wf.get(mi)
        if w is None:
            w = self.image.matrices[mi].weights.astype(np.float32)
            self._wf[mi] = w
        return w

    def tile_matvec(self, mi: int, tile: TileRec, x: np.ndarray) -> np.ndarray:
        """x (M, k_len) int8 -> partial sums (M, n_len) for one dense tile."""
        w = self._weights_f(mi)[tile.n0 : tile.n0 + tile.n_len, tile.k0 : tile.k0 + tile.k_len]
        if tile.k_len <= _F32_EXACT_ROWS:
            return (x.astype(np.float32) @ w.T).astype(np.int64)
        return x.astype(np.int64) @ w.T.astype(np.int64)

    def tile_depthwise(self, mi: int, tile: TileRec, x: np.ndarray) -> np.ndarray:
        """x (M, K, n_len) int8 windows of the tile's channels -> (M, n_len) sums (block-diagonal tile)."""
        w = self.image.matrices[mi].weights[tile.n0 : tile.n0 + tile.n_len].astype(np.int32)  # (n, K)
        acc = np.zeros((x.shape[0], tile.n_len), np.int32)
        for k in range(x.shape[1]):
            acc += x[:, k, :].astype(np.int32) * w[:, k]
        return acc.astype(np.int64)

    # -- whole op ------------------------------------------------------------------------------------
    def matvec(self, mi: int, x: np.ndarray) -> np.ndarray:
        """Dense matrix through all its tiles: x (M, K) int8 -> int64 (M, N) sums."""
        m = self.image.matrices[mi]
        acc = np.zeros((x.shape[0], m.cols), np.int64)
        for tile in m.tiles:
            acc[:, tile.n0 : tile.n0 + tile.n_len] += self.tile_matvec(
                mi, tile, x[:, tile.k0 : tile.k0 + tile.k_len])
        return acc

    def depthwise(self, mi: int, x: np.ndarray) -> np.ndarray:
        """x (M, K, N) int8 windows per output channel -> (M, N)."""
        m = self.image.matrices[mi]
        acc = np.zeros((x.shape[0], m.cols), np.int64)
        for tile in m.tiles:
            sl = slice(tile.n0, tile.n0 + tile.n_len)
            acc[:, sl] = self.tile_depthwise(mi, tile, x[:, :, sl])
        return acc

    def run(self, index: int, op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec],
            out_rec: TensorRec) -> np.ndarray:
        p = op.params
        mi = p["matrix"]
        m = self.image.matrices[mi]
        x = inputs[0]
        b = x.shape[0]
        if op.opcode == "FULLY_CONNECTED":
            xs = x.reshape(-1, m.rows)
            acc = self.matvec(mi, xs)
            out_shape = (b, *out_rec.shape[1:])
        else:
            oh, ow = out_rec.shape[1], out_rec.shape[2]
            win = gather_windows(x, p, (oh, ow))  # (B, OH, OW, kh, kw, C)
            if op.opcode == "CONV_2D":
                acc = self.matvec(mi, win.reshape(b * oh * ow, m.rows))
            else:
                dm = p["depth_mult"]
                kk = p["kernel_h"] * p["kernel_w"]
                win = win.reshape(b * oh * ow, kk, -1)
                if dm > 1:
                    win = np.repeat(win, dm, axis=2)
                acc = self.depthwise(mi, win)
            out_shape = (b, oh, ow, m.cols)
        acc = acc + m.bias.astype(np.int64)
        y = requantize(acc, m.mult.astype(np.int64), m.shift.astype(np.int64), p["out_zp"], p["act_min"],
                       p["act_max"])
        return y.reshape(out_shape)

    def counters(self, index: int, op: OpRec, batch: int = 1) -> dict[str, int]:
        m: MatrixRec = self.image.matrices[op.params["matrix"]]
        out = self.image.tensors[op.outputs[0]]
        if op.opcode == "FULLY_CONNECTED":
            pos = int(np.prod(self.image.tensors[op.inputs[0]].shape)) // m.rows
        else:
            pos = out.shape[1] * out.shape[2]
        return energy.cim_counts(m.kind, m.tiles, pos * batch, self.target_or_load())


__all__ = ["CimModel", "MATRIX_DEPTHWISE", "gather_windows"]
