"""CiM ops on the host: gather the input rows, multiply-accumulate, then the digital periphery's bias and
requantization. The kernels are the shared multiply-accumulate family `cimsdk.mac`; `CimModel` picks an
exact backend of it:

- `fast` (default): the whole matrix at once through BLAS in float32/float64 where `cimsdk.mac.exactness`
  proves the sums exact (int64 otherwise), depthwise tap by tap compiled; what an exact digital macro, or an
  analog one with no noise and a lossless ADC, computes.
- `tiles`: tile by tile as the mapping cut the matrix, int64 partial sums added across row tiles (the device's
  structure); the reference the fast backend is tested against.

`cimsdk.sim.analog.AnalogCimModel` (the `noisy` backend) subclasses it with device non-idealities.
"""

from __future__ import annotations

import numpy as np

from cimconv import energy
from cimconv.image import MATRIX_DEPTHWISE, Image, MatrixRec, OpRec, TensorRec, TileRec
from cimconv.target import Target, load_target
from cimsdk.mac import accumulate, exactness, geometry
from cimsdk.mac.geometry import gather_windows, pad_input
from cimsdk.mac.requant import column_terms, requantize, requantize_wide
from cimsdk.mac.threads import map_chunks

EXACT_BACKENDS = ("fast", "tiles")
CHUNK_VALUES = 1 << 20  # gathered input + accumulator values per chunk of a batch (a few MB: L2/L3-sized)


class CimModel:
    """Hardware model of the macros an image was mapped onto."""

    def __init__(self, image: Image, target: Target | None = None, backend: str = "fast"):
        if backend not in EXACT_BACKENDS:
            raise ValueError(f"backend {backend!r}: one of {', '.join(EXACT_BACKENDS)}")
        self.image = image
        self.target = target
        self.backend = backend
        self._wt: dict[int, np.ndarray] = {}
        self._terms: dict[int, tuple[np.ndarray, ...]] = {}

    @classmethod
    def ideal(cls, image: Image, backend: str = "fast") -> CimModel:
        return cls(image, None, backend)

    def target_or_load(self) -> Target:
        if self.target is None:
            self.target = load_target(self.image.target)
        return self.target

    # -- tiles backend ------------------------------------------------------------------------------
    def tile_matvec(self, mi: int, tile: TileRec, x: np.ndarray) -> np.ndarray:
        """x (M, k_len) int8 or int16 -> int64 partial sums (M, n_len) of one dense tile."""
        w = self.image.matrices[mi].weights[tile.n0 : tile.n0 + tile.n_len, tile.k0 : tile.k0 + tile.k_len]
        return accumulate.dense(x, w.T.astype(np.int64))

    def tile_depthwise(self, mi: int, tile: TileRec, x: np.ndarray) -> np.ndarray:
        """x (M, K, n_len) int8 windows of the tile's channels -> int64 (M, n_len) (block-diagonal tile)."""
        w = self.image.matrices[mi].weights[tile.n0 : tile.n0 + tile.n_len]
        return accumulate.depthwise_windows(x, w.astype(np.int64))

    def matvec(self, mi: int, x: np.ndarray) -> np.ndarray:
        """Dense matrix through all its tiles: x (M, K) int8 -> int64 (M, N) sums."""
        m = self.image.matrices[mi]
        acc = np.zeros((x.shape[0], m.cols), np.int64)
        for tile in m.tiles:
            acc[:, tile.n0 : tile.n0 + tile.n_len] += self.tile_matvec(mi, tile, x[:, tile.k0 : tile.k0 + tile.k_len])
        return acc

    def depthwise(self, mi: int, x: np.ndarray) -> np.ndarray:
        """x (M, K, N) int8 windows per output channel -> int64 (M, N)."""
        m = self.image.matrices[mi]
        acc = np.zeros((x.shape[0], m.cols), np.int64)
        for tile in m.tiles:
            sl = slice(tile.n0, tile.n0 + tile.n_len)
            acc[:, sl] = self.tile_depthwise(mi, tile, x[:, :, sl])
        return acc

    # -- fast backend -------------------------------------------------------------------------------
    def _weights(self, mi: int, op: OpRec) -> np.ndarray:
        """The fast backend's weights, in the exact accumulation dtype: (K, N) dense, (1, kh, kw, N) depthwise."""
        w = self._wt.get(mi)
        if w is None:
            m = self.image.matrices[mi]
            wide = self.image.tensors[op.inputs[0]].dtype == "int16"
            dtype = exactness.exact_dtype(m.weights, exactness.X_MAX16 if wide else exactness.X_MAX)
            if m.kind == MATRIX_DEPTHWISE:
                p = op.params
                w = m.weights.T.reshape(1, p["kernel_h"], p["kernel_w"], m.cols)
                dtype = np.float32 if dtype is np.float32 else np.int64
            else:
                w = m.weights.T
            w = self._wt[mi] = np.ascontiguousarray(w, dtype)
        return w

    # -- whole op -------------------------------------------------------------------------------------
    def sums(self, op: OpRec, x: np.ndarray, out_rec: TensorRec) -> np.ndarray:
        """The op's exact integer sums (M, N) (M = batch x output pixels), in the backend's dtype."""
        p = op.params
        mi = p["matrix"]
        m = self.image.matrices[mi]
        out_hw = None if op.opcode == "FULLY_CONNECTED" else (out_rec.shape[1], out_rec.shape[2])
        if m.kind != MATRIX_DEPTHWISE:
            if self.backend == "tiles":
                return self.matvec(mi, geometry.dense_rows(op.opcode, x, p, m.rows, out_hw))
            w = self._weights(mi, op)
            return accumulate.dense(geometry.dense_rows(op.opcode, x, p, m.rows, out_hw, w.dtype), w)
        if self.backend == "tiles":
            return self.depthwise(mi, geometry.depthwise_windows(x, p, out_hw))
        w = self._weights(mi, op)
        if w.dtype == np.int64:  # past the float32 bound (never for real kernel sizes)
            win = geometry.depthwise_windows(x, p, out_hw)
            return accumulate.depthwise_windows(win, w.reshape(-1, m.cols).T)
        return accumulate.depthwise_taps(pad_input(x, p, out_hw), w, p, out_hw).reshape(-1, m.cols)

    def run(self, index: int, op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec],
            out_rec: TensorRec) -> np.ndarray:
        """One CiM op over a batch, in chunks that keep the gathered rows cache-sized, on worker threads."""
        x = inputs[0]
        m = self.image.matrices[op.params["matrix"]]
        per_item = max(1, int(np.prod(out_rec.shape[1:-1], dtype=np.int64)) * (m.rows + m.cols))
        chunk = max(1, CHUNK_VALUES // per_item)
        parts = map_chunks(lambda i, j: self._run(op, x[i:j], out_rec), x.shape[0], chunk)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _run(self, op: OpRec, x: np.ndarray, out_rec: TensorRec) -> np.ndarray:
        p = op.params
        m = self.image.matrices[p["matrix"]]
        acc = self.sums(op, x, out_rec)
        if x.dtype == np.int16:  # TFLM's 16x8 mode: 64-bit accumulator and requantization
            y = requantize_wide(acc.reshape(-1, m.cols), m.bias, m.mult, m.shift, p["out_zp"], p["act_min"],
                                p["act_max"])
            return y.reshape((x.shape[0], *out_rec.shape[1:]))
        terms = self._terms.get(p["matrix"])
        if terms is None:
            terms = self._terms[p["matrix"]] = column_terms(m.bias, m.mult, m.shift)
        y = requantize(acc, m.bias, m.mult, m.shift, p["out_zp"], p["act_min"], p["act_max"], terms,
                       np.dtype(out_rec.dtype))
        return y.reshape((x.shape[0], *out_rec.shape[1:]))

    def counters(self, index: int, op: OpRec, batch: int = 1) -> dict[str, int]:
        m: MatrixRec = self.image.matrices[op.params["matrix"]]
        out = self.image.tensors[op.outputs[0]]
        if op.opcode == "FULLY_CONNECTED":
            pos = int(np.prod(self.image.tensors[op.inputs[0]].shape)) // m.rows
        else:
            pos = out.shape[1] * out.shape[2]
        bits = energy.input_bits(self.image.tensors[op.inputs[0]].dtype)
        return energy.cim_counts(m.kind, m.tiles, pos * batch, self.target_or_load(), bits)


__all__ = ["EXACT_BACKENDS", "CimModel", "MATRIX_DEPTHWISE", "gather_windows", "pad_input"]
