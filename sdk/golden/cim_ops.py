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
from cimsdk.golden import fastpath
from cimsdk.golden.fixedpoint import requantize

# float32 sums of int8 x int8 products are exact while |sum| <= 2^24: 1024 rows of 128 x 128.
_F32_EXACT_ROWS = (1 << 24) // (128 * 128)


def pad_input(x: np.ndarray, p: dict[str, int], out_hw: tuple[int, int]) -> np.ndarray:
    """The input with the padding the op reads filled with in_zp (so folded biases stay exact)."""
    _b, h, w, _c = x.shape
    oh, ow = out_hw
    pt, pl = p["pad_top"], p["pad_left"]
    need_h = (oh - 1) * p["stride_h"] + (p["kernel_h"] - 1) * p["dil_h"] + 1
    need_w = (ow - 1) * p["stride_w"] + (p["kernel_w"] - 1) * p["dil_w"] + 1
    pb = max(need_h - h - pt, 0)
    pr = max(need_w - w - pl, 0)
    if pt or pb or pl or pr:
        return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=p["in_zp"])
    return x


def gather_windows(x: np.ndarray, p: dict[str, int], out_hw: tuple[int, int]) -> np.ndarray:
    """Input windows (B, OH, OW, kh, kw, C), a strided view of the padded input."""
    xp = pad_input(x, p, out_hw)
    b, c = x.shape[0], x.shape[3]
    oh, ow = out_hw
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, shape=(b, oh, ow, p["kernel_h"], p["kernel_w"], c),
        strides=(s[0], s[1] * p["stride_h"], s[2] * p["stride_w"], s[1] * p["dil_h"], s[2] * p["dil_w"], s[3]),
        writeable=False)


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
        """x (M, k_len) int8 -> partial sums (M, n_len) for one dense tile (exact integers, any dtype)."""
        w = self._weights_f(mi)[tile.n0 : tile.n0 + tile.n_len, tile.k0 : tile.k0 + tile.k_len]
        if tile.k_len <= _F32_EXACT_ROWS:
            return x.astype(np.float32) @ w.T
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
        if len(m.tiles) == 1:
            return self.tile_matvec(mi, m.tiles[0], x)
        acc = np.zeros((x.shape[0], m.cols), np.int64)
        for tile in m.tiles:
            acc[:, tile.n0 : tile.n0 + tile.n_len] += self.tile_matvec(
                mi, tile, x[:, tile.k0 : tile.k0 + tile.k_len]).astype(np.int64)
        return acc

    def depthwise(self, mi: int, x: np.ndarray) -> np.ndarray:
        """x (M, K, N) int8 windows per output channel -> (M, N)."""
        m = self.image.matrices[mi]
        acc = np.zeros((x.shape[0], m.cols), np.int64)
        for tile in m.tiles:
            sl = slice(tile.n0, tile.n0 + tile.n_len)
            acc[:, sl] = self.tile_depthwise(mi, tile, x[:, :, sl])
        return acc

    def _ideal_depthwise(self) -> bool:
        return type(self).tile_depthwise is CimModel.tile_depthwise

    def _ideal_dense(self) -> bool:
        """Exact tiles: the sum over row tiles is the whole dot product, so one fused loop computes it."""
        return fastpath.ENABLED and type(self).tile_matvec is CimModel.tile_matvec

    def run(self, index: int, op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec],
            out_rec: TensorRec) -> np.ndarray:
        """One CiM op over a batch, in chunks that keep the gathered windows cache-sized."""
        x = inputs[0]
        m = self.image.matrices[op.params["matrix"]]
        per_item = max(1, int(np.prod(out_rec.shape[1:-1], dtype=np.int64)) * m.rows * max(1, m.cols // 64))
        chunk = max(1, (1 << 21) // per_item)
        if x.shape[0] <= chunk:
            return self._run(op, x, out_rec)
        return np.concatenate([self._run(op, x[i : i + chunk], out_rec) for i in range(0, x.shape[0], chunk)])

    def _run(self, op: OpRec, x: np.ndarray, out_rec: TensorRec) -> np.ndarray:
        p = op.params
        mi = p["matrix"]
        m = self.image.matrices[mi]
        b = x.shape[0]
        if op.opcode == "FULLY_CONNECTED" and self._ideal_dense():
            xs = np.ascontiguousarray(x.reshape(-1, 1, 1, m.rows))
            one = dict(p, kernel_h=1, kernel_w=1, stride_h=1, stride_w=1, dil_h=1, dil_w=1)
            y = fastpath.conv(xs, m.weights, m.bias, m.mult, m.shift, one, (1, 1))
            return y.reshape((b, *out_rec.shape[1:]))
        if op.opcode == "FULLY_CONNECTED":
            acc = self.matvec(mi, x.reshape(-1, m.rows))
            out_shape = (b, *out_rec.shape[1:])
        else:
            oh, ow = out_rec.shape[1], out_rec.shape[2]
            out_shape = (b, oh, ow, m.cols)
            pointwise = (p["kernel_h"] == p["kernel_w"] == p["stride_h"] == p["stride_w"] == 1
                         and x.shape[1:3] == (oh, ow))
            if op.opcode == "CONV_2D" and self._ideal_dense():
                xp = np.ascontiguousarray(pad_input(x, p, (oh, ow)))
                return fastpath.conv(xp, m.weights, m.bias, m.mult, m.shift, p, (oh, ow))
            if op.opcode == "CONV_2D":
                xs = x.reshape(b * oh * ow, m.rows) if pointwise else gather_windows(x, p, (oh, ow)).reshape(
                    b * oh * ow, m.rows)
                acc = self.matvec(mi, xs)
            elif self._ideal_depthwise() and fastpath.ENABLED:
                w = m.weights.T.reshape(p["kernel_h"], p["kernel_w"], m.cols)
                return fastpath.depthwise(np.ascontiguousarray(pad_input(x, p, (oh, ow))), w, m.bias, m.mult,
                                          m.shift, p, (oh, ow))
            elif self._ideal_depthwise():
                acc = self._depthwise_direct(x, p, m, (oh, ow)).reshape(b * oh * ow, m.cols)
            else:
                kk = p["kernel_h"] * p["kernel_w"]
                win = gather_windows(x, p, (oh, ow)).reshape(b * oh * ow, kk, -1)
                if p["depth_mult"] > 1:
                    win = np.repeat(win, p["depth_mult"], axis=2)
                acc = self.depthwise(mi, win)
        if fastpath.ENABLED:
            y = fastpath.requant(acc, m.bias, m.mult, m.shift, p["out_zp"], p["act_min"], p["act_max"])
        else:
            y = requantize(acc + m.bias.astype(np.int64), m.mult, m.shift, p["out_zp"], p["act_min"],
                           p["act_max"])
        return y.reshape(out_shape)

    def _depthwise_direct(self, x: np.ndarray, p: dict[str, int], m: MatrixRec, out_hw: tuple[int, int]
                          ) -> np.ndarray:
        """Ideal depthwise sums tap by tap on shifted views: the same numbers as the tiles' dot products."""
        win = gather_windows(x, p, out_hw)  # view (B, OH, OW, kh, kw, C)
        dm = p["depth_mult"]
        w = m.weights.T.astype(np.float32).reshape(p["kernel_h"], p["kernel_w"], -1)  # (kh, kw, N)
        acc = None
        for ky in range(p["kernel_h"]):
            for kx in range(p["kernel_w"]):
                tap = win[:, :, :, ky, kx, :].astype(np.float32)
                if dm > 1:
                    tap = np.repeat(tap, dm, axis=-1)
                term = tap * w[ky, kx]
                if acc is None:
                    acc = term
                else:
                    acc += term
        return acc.astype(np.int64)

    def counters(self, index: int, op: OpRec, batch: int = 1) -> dict[str, int]:
        m: MatrixRec = self.image.matrices[op.params["matrix"]]
        out = self.image.tensors[op.outputs[0]]
        if op.opcode == "FULLY_CONNECTED":
            pos = int(np.prod(self.image.tensors[op.inputs[0]].shape)) // m.rows
        else:
            pos = out.shape[1] * out.shape[2]
        return energy.cim_counts(m.kind, m.tiles, pos * batch, self.target_or_load())


__all__ = ["CimModel", "MATRIX_DEPTHWISE", "gather_windows"]
