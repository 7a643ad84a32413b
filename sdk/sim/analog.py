"""`AnalogCimModel`: the golden model's CiM ops on an analog macro with non-idealities, vectorised over
samples and Monte Carlo trials (chips).

How a macro computes (docs/noise-models.md): inputs are offset-binary (x + 128, the zero-point-style
correction -128 * sum(w) is digital), fed `input_bits_per_cycle` bits per cycle; each int8 weight is encoded
on cells (slices of `bits_per_cell`, differential pair / offset / two's complement); `rows_active` rows are
summed per ADC conversion; the digital periphery shifts, signs and adds the conversions.

Two modes:
- "exact": every conversion (input plane x row group x slice x polarity) is formed, read noise is drawn per
  conversion and the ADC rounds and clips it. Slow (~32x the MACs); used on small batches to validate...
- "fast": the static per-chip perturbation (programming error, drift, stuck cells, IR drop) is folded into
  effective weights (the shared kernels of `cimsdk.mac`: one BLAS matmul per chip), and the dynamic part (read noise, ADC
  quantisation, ADC comparator noise, clipping) is added as per-output Gaussian noise whose variance is
  derived from the same conversion structure: Var = sum_conv coef^2 (sum_k chunk_k^2 sigma_k^2 + lsb^2/12).

Trials ride on the batch axis: the executor runs x of shape (trials * B, ...); trial t owns rows
[t*B, (t+1)*B). Each trial is one chip: its own programmed conductances, drawn from `seed`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from cimconv.errors import UserError
from cimconv.image import MATRIX_DEPTHWISE, Image, MatrixRec, OpRec, TensorRec
from cimconv.target import Target
from cimsdk.golden.cim_ops import CimModel
from cimsdk.mac import accumulate, geometry, noisy
from cimsdk.mac.geometry import pad_input
from cimsdk.mac.requant import requantize
from cimsdk.mac.threads import single_threaded_blas
from cimsdk.sim.noise import NoiseModel

IN_OFFSET = 128  # inputs are applied offset-binary: x_u = x + 128 in [0, 255]


@dataclass
class Encoding:
    """How int8 weights sit on cells: digits (S, P, N, K), decode coefficients (S, P), digital offset."""

    digits: np.ndarray
    coef: np.ndarray
    offset: int
    levels: int


def encode_weights(w: np.ndarray, t: Target) -> Encoding:
    """Split int8 weights (N, K) into cell digits per the target's slicing and signed encoding."""
    b, c, enc = t.bits_per_cell, t.cells_per_weight, t.signed_encoding
    base = 1 << b
    w = w.astype(np.int32)
    if enc == "differential":
        need = int(np.abs(w).max(initial=0)).bit_length()
        if b * c < need:
            raise UserError(f"{t.name}: {c} cells x {b} bits cannot hold weight magnitudes up to "
                            f"{int(np.abs(w).max())}; use more cells per weight or more bits per cell")
        mags = [np.maximum(w, 0), np.maximum(-w, 0)]
        signs = [1, -1]
        offset = 0
    elif enc == "offset":
        if b * c < 8:
            raise UserError(f"{t.name}: offset encoding of int8 weights needs bits_per_cell x cells_per_weight >= 8")
        offset = 1 << (b * c - 1)
        mags, signs = [w + offset], [1]
    else:  # twos-complement
        if b != 1 or c != 8:
            raise UserError(f"{t.name}: two's complement weights on analog cells need 1-bit cells x 8 "
                            "(a multi-bit top slice has no linear signed read-out); use differential or offset")
        mags, signs, offset = [w & 0xFF], [1], 0
    digits = np.zeros((c, len(mags), *w.shape), np.uint8)
    coef = np.zeros((c, len(mags)), np.float64)
    for p, (m, sg) in enumerate(zip(mags, signs, strict=True)):
        for s in range(c):
            digits[s, p] = (m >> (b * s)) & (base - 1)
            coef[s, p] = sg * float(1 << (b * s))
    if enc == "twos-complement":
        coef[c - 1, 0] = -coef[c - 1, 0]
    return Encoding(digits, coef, offset, base)


def chunk_planes(t: Target) -> list[tuple[int, int]]:
    """(shift, mask) of each input cycle of the offset-binary input."""
    p = t.input_bits_per_cycle
    return [(j * p, (1 << p) - 1) for j in range(t.input_cycles)]


def conversion_peak(t: Target, rows: int) -> float:
    return min(t.rows_active, rows) * (2**t.bits_per_cell - 1) * (2**t.input_bits_per_cycle - 1)


def naive_lsb(t: Target, rows: int) -> float:
    """Uncalibrated ADC: a power-of-two LSB whose full scale covers the largest possible partial sum."""
    if t.adc_bits == 0:
        return 1.0
    peak = conversion_peak(t, rows)
    return float(max(1.0, 2.0 ** math.ceil(math.log2(peak + 1) - t.adc_bits)))


@dataclass
class _Mat:
    enc: Encoding
    w_eff: np.ndarray  # (T, N, K) float32 decoded effective weights of each chip
    w_corr: np.ndarray  # (T, N) float32: IN_OFFSET * (sum_k w_eff - sum_k w)
    s2: np.ndarray  # (K, N) float32: sum_{s,p} coef^2 sigma_read^2 (digit units)
    lsb: np.ndarray  # (S, P, N) ADC LSB in analog-sum units
    qvar: np.ndarray  # (N,) quantisation + comparator variance of one output (all conversions)
    d_eff: np.ndarray | None = None  # (T, S, P, N, K) effective digits, exact mode only
    sig_d: np.ndarray | None = None  # (S, P, N, K) read sigma in digit units, exact mode only
    clip_mean: np.ndarray | None = None
    clip_std: np.ndarray | None = None
    gain: np.ndarray | None = None  # (T, N) per-chip digital column calibration
    bias: np.ndarray | None = None
    stats: dict = field(default_factory=dict)


class AnalogCimModel(CimModel):
    """Analog macro model: see the module docstring. `adc_ranges` (matrix -> (S, P, N) full scales) comes
    from `cimsdk.sim.calibrate`; without it the ADC is uncalibrated (naive)."""

    def __init__(self, image: Image, target: Target, noise: NoiseModel, trials: int = 1, seed: int = 0,
                 mode: str = "fast", adc_ranges: dict[int, np.ndarray] | None = None, trial0: int = 0):
        super().__init__(image, target)
        if mode not in ("fast", "exact"):
            raise ValueError(mode)
        self.noise, self.trials, self.seed, self.mode = noise, int(trials), int(seed), mode
        self.trial0 = int(trial0)
        self.adc_ranges = adc_ranges or {}
        self.mats: dict[int, _Mat] = {}
        self.collect_snr = False
        self.snr_acc: dict[int, list[float]] = {}
        self._rng = np.random.default_rng([self.seed, 1, self.trial0])
        self._x2_lut = self._make_x2_lut()
        # a noise-free model with a lossless ADC is exact: run the golden model's fast backend (False: run the
        # noisy kernels anyway, rounding their accumulators, as the backend test matrix does)
        self.shortcut = True
        self.fused = True  # folded fast mode (shared kernels + noisy finish); False runs the step-by-step path

    # -- set-up per matrix --------------------------------------------------------------------------
    def _make_x2_lut(self) -> np.ndarray:
        v = np.arange(256)
        out = np.zeros(256, np.float64)
        for sh, mask in chunk_planes(self.target):
            out += 4.0**sh * ((v >> sh) & mask) ** 2
        return out.astype(np.float32)

    def _positions(self, m: MatrixRec, sp: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Row and column fractions (S, P, N, K) of every cell on its array (for IR drop)."""
        t = self.target
        s_n, p_n = sp
        rows = np.zeros((m.cols, m.rows), np.float32)
        cols = np.zeros((m.cols, m.rows), np.float32)
        for tl in m.tiles:
            n = np.arange(tl.n0, tl.n0 + tl.n_len)
            k = np.arange(tl.k0, tl.k0 + tl.k_len)
            if m.kind == MATRIX_DEPTHWISE:
                r = tl.row0 + (n - tl.n0)[:, None] * tl.k_len + (k - tl.k0)[None, :]
            else:
                r = np.broadcast_to(tl.row0 + (k - tl.k0)[None, :], (len(n), len(k)))
            rows[tl.n0 : tl.n0 + tl.n_len, tl.k0 : tl.k0 + tl.k_len] = r
            cols[tl.n0 : tl.n0 + tl.n_len, tl.k0 : tl.k0 + tl.k_len] = (tl.col0 + (n - tl.n0))[:, None]
        per = t.cells_per_weight * t.sign_factor
        s_i = np.arange(s_n)[:, None, None, None]
        p_i = np.arange(p_n)[None, :, None, None]
        col_phys = cols[None, None] * per + s_i * t.sign_factor + p_i
        rf = np.clip(rows / max(t.rows - 1, 1), 0, 1)
        # a mapping with more cells per weight than the image was tiled for continues on the next array
        cf = np.clip((col_phys % t.cols) / max(t.cols - 1, 1), 0, 1)
        return np.broadcast_to(rf, col_phys.shape), cf

    def _digital(self, slices: int) -> slice:
        """The weight's top cell slices that a hybrid target computes digitally (empty for analog targets)."""
        return slice(slices - min(self.target.digital_slices, slices), slices)

    def _tile_rows(self, m: MatrixRec) -> int:
        return max(tl.k_len for tl in m.tiles) if m.tiles else m.rows

    def setup(self, mi: int) -> _Mat:
        got = self.mats.get(mi)
        if got is not None:
            return got
        t, nz = self.target, self.noise
        m = self.image.matrices[mi]
        enc = encode_weights(m.weights, t)
        S, P = enc.coef.shape
        L1 = enc.levels - 1
        gscale = (1.0 - nz.g_min) / L1
        g_t = (nz.g_min + enc.digits.astype(np.float32) * gscale).astype(np.float32)  # (S, P, N, K)
        rf, cf = self._positions(m, (S, P))
        ir = nz.ir_factor(rf, cf) if (nz.ir_drop_row or nz.ir_drop_col) else None
        d_eff = np.empty((self.trials, *g_t.shape), np.float32)
        dig = self._digital(S)
        for tr in range(self.trials):
            rng = np.random.default_rng([self.seed, 2, mi, self.trial0 + tr])  # chip = (seed, trial)
            g = nz.program(g_t, rng)
            if ir is not None:
                g = g * ir
            d_eff[tr] = (g - nz.g_min) / gscale
            d_eff[tr, dig] = enc.digits[dig]  # a hybrid macro's digital slices are exact
        coef = enc.coef.astype(np.float32)
        w_eff = np.einsum("sp,tspnk->tnk", coef, d_eff, optimize=True) - np.float32(enc.offset)
        w_eff = np.ascontiguousarray(w_eff, dtype=np.float32)
        w_corr = (IN_OFFSET * (w_eff.sum(axis=2) - m.weights.astype(np.float32).sum(axis=1))).astype(np.float32)
        sig = nz.read_sigma(g_t * (ir if ir is not None else 1.0)) / gscale  # (S, P, N, K) digit units
        sig[dig] = 0.0
        s2 = np.einsum("sp,spnk->kn", coef.astype(np.float64) ** 2, sig.astype(np.float64) ** 2).astype(np.float32)
        rows = self._tile_rows(m)
        if mi in self.adc_ranges:
            fs = np.asarray(self.adc_ranges[mi], np.float64).reshape(S, P, m.cols)
            # a calibrated LSB never goes below one digit: there the integer grid is already lossless
            lsb = np.maximum(fs / (2**t.adc_bits - 1), 1.0)
        else:
            lsb = np.full((S, P, m.cols), naive_lsb(t, rows))
        lsb[dig] = 1.0  # digital slices are added exactly, no ADC
        qvar = self._quant_var(enc, lsb, m)
        st = _Mat(enc, w_eff, w_corr, s2, lsb, qvar)
        dev = d_eff - enc.digits.astype(np.float32)[None]
        st.stats["static_cell"] = np.mean(dev**2, axis=0)  # (S, P, N, K) per-cell static variance over chips
        st.stats["read_cell"] = (sig**2).astype(np.float32)
        if self.mode == "exact":
            st.d_eff, st.sig_d = d_eff, sig.astype(np.float32)
        self.mats[mi] = st
        return st

    def _quant_var(self, enc: Encoding, lsb: np.ndarray, m: MatrixRec) -> np.ndarray:
        """Variance one output collects from ADC rounding and comparator noise over all its conversions."""
        t, nz = self.target, self.noise
        if t.adc_bits == 0:
            return np.zeros(m.cols, np.float32)
        integer_lossless = nz.is_ideal and np.all(lsb == 1.0)
        rows = self._tile_rows(m)
        groups = sum(math.ceil(tl.k_len / t.rows_active) for tl in m.tiles if tl.n0 == 0) if m.kind != MATRIX_DEPTHWISE \
            else math.ceil(rows / t.rows_active)
        cyc = sum(4.0**sh for sh, _ in chunk_planes(t))
        per = np.zeros(lsb.shape, np.float64)
        if not integer_lossless:
            per += lsb**2 / 12.0
        if nz.adc_sigma_lsb and nz.level:
            per += (nz.adc_sigma_lsb * nz.level * lsb) ** 2
        per[self._digital(per.shape[0])] = 0.0
        coef2 = enc.coef[:, :, None] ** 2
        return (groups * cyc * (coef2 * per).sum(axis=(0, 1))).astype(np.float32)

    # -- column calibration hooks -------------------------------------------------------------------
    def set_column_calibration(self, mi: int, gain: np.ndarray, bias: np.ndarray) -> None:
        st = self.setup(mi)
        st.gain, st.bias = gain.astype(np.float32), bias.astype(np.float32)
        st.stats.pop("fused", None)

    def set_clip_stats(self, mi: int, mean: np.ndarray, std: np.ndarray) -> None:
        st = self.setup(mi)
        st.clip_mean, st.clip_std = mean.astype(np.float32), std.astype(np.float32)
        st.stats.pop("fused", None)

    @property
    def exact_ideal(self) -> bool:
        """No noise and a lossless uncalibrated ADC: the macro is exact, use the golden integer path."""
        t = self.target
        return self.noise.is_ideal and not self.adc_ranges and (t.adc_bits == 0 or t.adc_lossless)

    # -- the accumulators ---------------------------------------------------------------------------
    def accumulate(self, mi: int, x: np.ndarray, depthwise: bool, raw: bool = False) -> np.ndarray:
        """x (T, R, K) or (T, R, K, N) int8 -> (T, R, N) float32 analog accumulators incl. the input offset."""
        st = self.setup(mi)
        if self.mode == "exact":
            y = self._exact(mi, st, x, depthwise)
        else:
            y = self._fast(mi, st, x, depthwise)
        if not raw:
            if st.clip_mean is not None:
                y += st.clip_mean
                self._add_noise(y, st.clip_std)
            if st.gain is not None:
                y *= st.gain[:, None, :]
                y += st.bias[:, None, :]
        return y

    def _round_stats(self, st: _Mat, mi: int, xs: np.ndarray, depthwise: bool) -> tuple[np.ndarray, np.ndarray]:
        """Per column: kappa (how much static error survives ADC rounding) and the fresh output variance.

        Each conversion's analog error e ~ N(0, v) (static programming error + read noise + comparator
        noise; v from the conversion's actual input bits on sample inputs xs). On an integer grid (lossless
        LSB of one digit) the ADC rounds small errors away: round(e) = kappa e + nu with
        kappa = Cov(round(e), e) / v (Stein: sum_k phi(k + 1/2)) and Var(nu) = Var(round(e)) - kappa^2 v.
        Off the grid (coarser LSB) kappa = 1 and rounding adds LSB^2 / 12.
        """
        t, nz = self.target, self.noise
        m = self.image.matrices[mi]
        lsb = st.lsb
        adc2 = (nz.adc_sigma_lsb * nz.level * lsb) ** 2 if nz.adc_sigma_lsb else np.zeros_like(lsb)
        coef2 = st.enc.coef ** 2
        on_grid = t.adc_bits > 0 and np.all(lsb == 1.0)
        vst_cell, vrd_cell = st.stats["static_cell"], st.stats["read_cell"]  # (S, P, N, K)
        xu = xs.astype(np.int16) + IN_OFFSET
        S, P = coef2.shape
        num = np.zeros(m.cols)
        den = np.zeros(m.cols)
        fresh = np.zeros(m.cols)
        K = m.rows
        R = xs.shape[0]
        for sh, mask in chunk_planes(t):
            c2 = (((xu >> sh) & mask).astype(np.float32)) ** 2
            for g0 in range(0, K, t.rows_active):
                g = slice(g0, min(K, g0 + t.rows_active))
                for s_ in range(S - t.digital_slices if t.digital_slices < S else 0):  # analog slices only
                    for p_ in range(P):
                        if depthwise:
                            v_st = np.einsum("rkn,nk->rn", c2[:, g, :], vst_cell[s_, p_][:, g])
                            v_rd = np.einsum("rkn,nk->rn", c2[:, g, :], vrd_cell[s_, p_][:, g])
                        else:
                            v_st = c2[:, g] @ vst_cell[s_, p_][:, g].T
                            v_rd = c2[:, g] @ vrd_cell[s_, p_][:, g].T
                        v = v_st + v_rd + adc2[s_, p_]
                        if t.adc_bits == 0:
                            kap, vr = np.ones_like(v), v
                        elif on_grid:
                            kap, vr = _round_gauss(v)
                        else:
                            kap, vr = np.ones_like(v), v + lsb[s_, p_] ** 2 / 12.0
                        wgt = 4.0**sh * coef2[s_, p_] / R
                        num += wgt * (kap * v_st).sum(axis=0)
                        den += wgt * v_st.sum(axis=0)
                        fresh += wgt * np.maximum(vr - kap**2 * v_st, 0.0).sum(axis=0)
        kappa = np.where(den > 0, num / np.maximum(den, 1e-30), 1.0)
        return kappa.astype(np.float32), fresh.astype(np.float32)

    def _groups(self, m: MatrixRec) -> int:
        t = self.target
        if m.kind == MATRIX_DEPTHWISE:
            return math.ceil(self._tile_rows(m) / t.rows_active)
        return sum(math.ceil(tl.k_len / t.rows_active) for tl in m.tiles if tl.n0 == 0)

    def _add_noise(self, y: np.ndarray, sd: np.ndarray | float) -> None:
        """y += sd * N(0, 1), in place. Samples are random windows of a pre-drawn pool: drawing fresh normals
        dominated the run time, and windows at random offsets are independent enough for Monte Carlo."""
        pool = getattr(self, "_pool", None)
        if pool is None:
            pool = self._pool = self._rng.standard_normal(1 << 22, dtype=np.float32)
        n_col = y.shape[-1]
        flat = y.reshape(-1, n_col)
        step = max(1, (1 << 20) // n_col)
        for r0 in range(0, flat.shape[0], step):
            r1 = min(flat.shape[0], r0 + step)
            n = (r1 - r0) * n_col
            o = int(self._rng.integers(0, pool.size - n))
            flat[r0:r1] += sd * pool[o : o + n].reshape(r1 - r0, n_col)

    def _effective(self, mi: int, st: _Mat, x: np.ndarray, depthwise: bool
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(weights (T, N, K), correction (T, N), fresh sd (N,)) for the fast path on inputs like x."""
        if self.noise.is_ideal and not np.any(st.qvar):
            return st.w_eff, st.w_corr, np.zeros(st.w_eff.shape[1], np.float32)
        if "fast" in st.stats:  # input statistics of the first batch are kept: activations are stationary
            return st.stats["fast"]
        flat = x.reshape(-1, *x.shape[2:])
        pick = np.random.default_rng([self.seed, 3, mi]).choice(len(flat), min(len(flat), 48), replace=False)
        kappa, fresh = self._round_stats(st, mi, np.asarray(flat[np.sort(pick)]), depthwise)
        w0 = self.image.matrices[mi].weights.astype(np.float32)
        w = w0 + kappa[None, :, None] * (st.w_eff - w0)
        corr = kappa[None, :] * st.w_corr
        st.stats["fast"] = (np.ascontiguousarray(w, dtype=np.float32), corr, np.sqrt(fresh).astype(np.float32))
        return st.stats["fast"]

    def _fast(self, mi: int, st: _Mat, x: np.ndarray, depthwise: bool) -> np.ndarray:
        w, corr, sd = self._effective(mi, st, x, depthwise)
        if depthwise:
            y = accumulate.depthwise_windows(x, w)
        else:
            y = accumulate.dense(x, w.transpose(0, 2, 1))
        y += corr[:, None, :]
        if np.any(sd):
            self._add_noise(y, sd)
        return y

    def _exact(self, mi: int, st: _Mat, x: np.ndarray, depthwise: bool) -> np.ndarray:
        """Every conversion: chunk plane x row group x slice x polarity, read noise and ADC per conversion."""
        t = self.target
        m = self.image.matrices[mi]
        xu = x.astype(np.int16) + IN_OFFSET
        T, R = x.shape[0], x.shape[1]
        K = m.rows
        N = m.cols
        out = np.zeros((T, R, N), np.float64)
        codes_max = 2**t.adc_bits - 1 if t.adc_bits else None
        S, P = st.enc.coef.shape
        first_digital = S - min(t.digital_slices, S)
        for tr in range(T):
            for sh, mask in chunk_planes(t):
                c = ((xu[tr] >> sh) & mask).astype(np.float32)  # (R, K) or (R, K, N)
                for g0 in range(0, K, t.rows_active):
                    g = slice(g0, min(K, g0 + t.rows_active))
                    for s in range(S):
                        for p in range(P):
                            d = st.d_eff[tr, s, p][:, g]  # (N, k)
                            sg = st.sig_d[s, p][:, g]
                            if depthwise:
                                a = np.einsum("rkn,nk->rn", c[:, g, :], d)
                                v = np.einsum("rkn,nk->rn", c[:, g, :] ** 2, sg**2)
                            else:
                                a = c[:, g] @ d.T
                                v = (c[:, g] ** 2) @ (sg**2).T
                            if self.noise.has_read_noise and s < first_digital:
                                a = a + np.sqrt(v) * self._rng.standard_normal(a.shape)
                            if codes_max is not None and s < first_digital:
                                lsb = st.lsb[s, p]
                                z = a / lsb
                                if self.noise.adc_sigma_lsb and self.noise.level:
                                    z = z + self.noise.adc_sigma_lsb * self.noise.level * self._rng.standard_normal(a.shape)
                                a = np.clip(np.rint(z), 0, codes_max) * lsb
                            out[tr] += st.enc.coef[s, p] * (2.0**sh) * a
        # digital: weight offset (offset encoding) and input offset corrections with the programmed values
        sum_xu = xu.sum(axis=2, dtype=np.float64)  # (T, R) or (T, R, N)
        out -= st.enc.offset * (sum_xu if depthwise else sum_xu[..., None])
        out -= IN_OFFSET * m.weights.astype(np.float64).sum(axis=1)
        return out.astype(np.float32)

    # -- whole op -------------------------------------------------------------------------------------
    def _inputs_of(self, op: OpRec, x: np.ndarray, m: MatrixRec, out_rec: TensorRec) -> tuple[np.ndarray, tuple, bool]:
        b = x.shape[0]
        T = self.trials
        if b % T:
            raise ValueError(f"batch {b} is not a multiple of {T} trials")
        xs, dw = self._windows(op, x, out_rec)
        return xs.reshape(T, -1, *xs.shape[1:]), (b, *out_rec.shape[1:]), dw

    def _windows(self, op: OpRec, x: np.ndarray, out_rec: TensorRec) -> tuple[np.ndarray, bool]:
        """The op's input rows (M, K), or depthwise windows (M, K, N), and whether it is depthwise."""
        p = op.params
        m = self.image.matrices[p["matrix"]]
        out_hw = None if op.opcode == "FULLY_CONNECTED" else (out_rec.shape[1], out_rec.shape[2])
        if m.kind == MATRIX_DEPTHWISE:
            return geometry.depthwise_windows(x, p, out_hw), True
        return geometry.dense_rows(op.opcode, x, p, m.rows, out_hw), False

    def run(self, index: int, op: OpRec, inputs: list[np.ndarray], in_recs: list[TensorRec],
            out_rec: TensorRec) -> np.ndarray:
        if self.exact_ideal and self.mode == "fast" and not self.collect_snr and self.shortcut:
            return super().run(index, op, inputs, in_recs, out_rec)
        p = op.params
        mi = p["matrix"]
        m = self.image.matrices[mi]
        if self.fused and self.mode == "fast" and not self.collect_snr and not self.exact_ideal:
            return self._fused(mi, op, inputs[0], out_rec)
        if op.opcode == "DEPTHWISE_CONV_2D" and self.mode == "fast" and not self.collect_snr:
            y, out_shape = self._fast_depthwise(mi, op, inputs[0], out_rec)
        else:
            xs, out_shape, dw = self._inputs_of(op, inputs[0], m, out_rec)
            y = self.accumulate(mi, xs, dw)
        if self.collect_snr:
            self._snr(mi, xs, y, dw)
        y = y.reshape(-1, m.cols)
        if self.exact_ideal:
            acc = np.rint(y).astype(np.int64)
            out = requantize(acc, m.bias, m.mult, m.shift, p["out_zp"], p["act_min"], p["act_max"],
                             out_dtype=np.dtype(out_rec.dtype))
            return out.reshape(out_shape)
        y += m.bias.astype(np.float32)
        scale = (m.mult.astype(np.float64) * np.exp2(m.shift.astype(np.float64) - 31)).astype(np.float32)
        y *= scale
        np.rint(y, out=y)
        y += p["out_zp"]
        np.clip(y, p["act_min"], p["act_max"], out=y)
        return y.astype(out_rec.dtype).reshape(out_shape)

    def _sample_windows(self, op: OpRec, x: np.ndarray, out_rec: TensorRec) -> tuple[np.ndarray, bool]:
        """Windows (1, R, K[, N]) of a few inputs: what `_effective` needs for its per-conversion statistics."""
        xs, dw = self._windows(op, x[: min(len(x), 4)], out_rec)
        return xs[None], dw

    def _folded(self, mi: int, op: OpRec, x: np.ndarray, out_rec: TensorRec
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per chip: weights, offset and noise scale with the whole digital chain folded in.

        Per chip t and column c the digital chain `((acc + corr + clip_mean + e) * gain + cal_bias + bias) * scale`
        is affine in `acc`, so it folds into effective weights `w' = w * gain * scale`, one offset `b'` and one
        noise scale `s' = scale * gain * sqrt(sd^2 + clip_sd^2)` (the two Gaussian terms are independent);
        `tests/test_sim_mapping.py` checks the folded and step-by-step paths agree."""
        st = self.setup(mi)
        got = st.stats.get("fused")
        if got is not None:
            return got
        if "fast" in st.stats:
            w, corr, sd = st.stats["fast"]
        else:  # (noise-free models skip the statistics and store nothing)
            xs, dw = self._sample_windows(op, x, out_rec)
            w, corr, sd = self._effective(mi, st, xs, dw)
        m = self.image.matrices[mi]
        T, N, K = w.shape
        scale = m.mult.astype(np.float64) * np.exp2(m.shift.astype(np.float64) - 31)
        gain = np.ones((T, N)) if st.gain is None else st.gain.astype(np.float64)
        cal_b = 0.0 if st.bias is None else st.bias.astype(np.float64)
        cm = 0.0 if st.clip_mean is None else st.clip_mean.astype(np.float64)
        cs = 0.0 if st.clip_std is None else st.clip_std.astype(np.float64)
        g = gain * scale
        wf = w.astype(np.float64) * g[:, :, None]
        bf = ((corr + cm) * gain + cal_b + m.bias.astype(np.float64)) * scale
        sf = np.abs(g) * np.sqrt(sd.astype(np.float64) ** 2 + np.asarray(cs) ** 2)
        sf = np.broadcast_to(sf, (T, N))
        p = op.params
        if op.opcode == "DEPTHWISE_CONV_2D":
            wt = wf.transpose(0, 2, 1).reshape(T, p["kernel_h"], p["kernel_w"], N)
        else:
            wt = wf.transpose(0, 2, 1)
        got = (np.ascontiguousarray(wt, np.float32), np.ascontiguousarray(bf, np.float32),
               np.ascontiguousarray(sf, np.float32))
        st.stats["fused"] = got
        return got

    def _fused(self, mi: int, op: OpRec, x: np.ndarray, out_rec: TensorRec) -> np.ndarray:
        """The fast noisy mode: the shared kernels on the folded weights, then the noisy finish."""
        if x.shape[0] % self.trials:
            raise ValueError(f"batch {x.shape[0]} is not a multiple of {self.trials} trials")
        wt, bf, sf = self._folded(mi, op, x, out_rec)
        p = op.params
        seed = int(self._rng.integers(0, 2**63))
        pool = getattr(self, "_kpool", None)
        if pool is None:
            cols = max(m.cols for m in self.image.matrices)
            pool = self._kpool = noisy.make_pool(np.random.default_rng([self.seed, 4, self.trial0]), cols)
        b = x.shape[0]
        m = self.image.matrices[mi]
        with single_threaded_blas():  # Monte Carlo runs chip blocks on threads of its own
            if m.kind == MATRIX_DEPTHWISE:
                out_hw = (out_rec.shape[1], out_rec.shape[2])
                acc = accumulate.depthwise_taps(pad_input(x, p, out_hw), wt, p, out_hw)
            else:
                rows, _ = self._windows(op, x, out_rec)
                acc = accumulate.dense(rows.reshape(self.trials, -1, m.rows), wt)
            y = noisy.finish(acc.reshape(b, -1, m.cols), bf, sf, pool, seed, p["out_zp"], p["act_min"],
                             p["act_max"], np.dtype(out_rec.dtype))
        return y.reshape((b, *out_rec.shape[1:]))

    def _fast_depthwise(self, mi: int, op: OpRec, x: np.ndarray, out_rec: TensorRec) -> tuple[np.ndarray, tuple]:
        """Depthwise straight from the padded input through the shared tap kernel, no window copy."""
        p = op.params
        st = self.setup(mi)
        m = self.image.matrices[mi]
        oh, ow = out_rec.shape[1], out_rec.shape[2]
        T = self.trials
        if "fast" in st.stats:
            w, corr, sd = st.stats["fast"]
        else:  # (noise-free models skip the statistics and store nothing)
            w, corr, sd = self._effective(mi, st, self._sample_windows(op, x, out_rec)[0], True)
        b = x.shape[0]
        taps = w.transpose(0, 2, 1).reshape(T, p["kernel_h"], p["kernel_w"], m.cols)
        y = accumulate.depthwise_taps(pad_input(x, p, (oh, ow)), taps, p, (oh, ow)).reshape(T, -1, m.cols)
        y += corr[:, None, :]
        if np.any(sd):
            self._add_noise(y, sd)
        if st.clip_mean is not None:
            y += st.clip_mean
            self._add_noise(y, st.clip_std)
        if st.gain is not None:
            y *= st.gain[:, None, :]
            y += st.bias[:, None, :]
        return y, (b, oh, ow, m.cols)

    def _snr(self, mi: int, xs: np.ndarray, y: np.ndarray, dw: bool) -> None:
        w = self.image.matrices[mi].weights.astype(np.float32)
        xf = xs.astype(np.float32)
        y0 = np.einsum("trkn,nk->trn", xf, w) if dw else xf @ w.T
        acc = self.snr_acc.setdefault(mi, [0.0, 0.0])
        acc[0] += float(np.sum(y0.astype(np.float64) ** 2))
        acc[1] += float(np.sum((y.astype(np.float64) - y0) ** 2))

    def snr_db(self) -> dict[int, float]:
        return {mi: (10 * math.log10(s / e) if e > 0 else float("inf")) for mi, (s, e) in self.snr_acc.items()}

    def counters(self, index: int, op: OpRec, batch: int = 1) -> dict[str, int]:
        return super().counters(index, op, batch)


def _erf(z: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), vectorised (numpy has no erf)."""
    sgn = np.sign(z)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sgn * (1.0 - poly * np.exp(-a * a))


def _phi_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))


def _round_gauss(var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For e ~ N(0, var) and rounding to the integer grid: kappa = Cov(round(e), e) / var and Var(round(e)).

    Both are smooth in sd = sqrt(var); below sd 3 they are read from a table of `_round_gauss_exact` (step
    1/1024, linear interpolation: error below 1e-5), which took most of the time of an LSTM's noisy run."""
    sd = np.sqrt(np.maximum(var, 0.0))
    kap = np.ones_like(sd)
    vr = var + 1.0 / 12.0
    small = sd < _ROUND_SD_MAX
    if np.any(small):
        grid, kap_t, vr_t = _round_table()
        kap[small] = np.interp(sd[small], grid, kap_t)
        vr[small] = np.interp(sd[small], grid, vr_t)
    return kap, vr


_ROUND_SD_MAX = 3.0


@functools.cache
def _round_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    grid = np.linspace(0.0, _ROUND_SD_MAX, 3 * 1024 + 1)
    kap, vr = _round_gauss_exact(grid**2)
    return grid, kap, vr


def _round_gauss_exact(var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """kappa and Var(round(e)) by the sums over the grid points k (|k| <= 16: 5.3 sd at sd 3)."""
    sd = np.sqrt(np.maximum(var, 0.0))
    s = np.maximum(sd, 1e-12)
    k = np.arange(-16, 17).reshape(-1, *([1] * s.ndim))
    pk = _phi_cdf((k + 0.5) / s) - _phi_cdf((k - 0.5) / s)
    vr = (k**2 * pk).sum(axis=0)
    dens = np.exp(-0.5 * ((k + 0.5) / s) ** 2) / (s * math.sqrt(2 * math.pi))
    kap = np.where(sd > 0, dens.sum(axis=0), 0.0)
    return kap, vr
