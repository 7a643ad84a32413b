"""Activation range observers: watch a tensor over the calibration batches, then choose its clipping range.

Methods (what `--method` picks):
- `minmax`: the smallest and largest value seen (TFLite's converter does this). Nothing is clipped; a few
  outliers stretch the step size for everything else.
- `percentile`: the `percentile`-th and (100 - percentile)-th percentiles of the values seen. Clips rare
  outliers to buy resolution for the bulk.
- `mse`: the range whose int8 quantize-dequantize error (mean squared, over the values seen) is smallest,
  searched over ranges shrunk from min/max. Balances clipping error against rounding error.
- `kl`: the range whose quantized histogram is closest (Kullback-Leibler divergence) to the float
  histogram (the entropy calibration TensorRT made popular).

Every range is widened to include 0 (zero must be exactly representable); that and the scale / zero point
arithmetic live in `qparams`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cimconv.quantize.qparams import QMAX, QMIN, asymmetric_params

METHODS = ("minmax", "percentile", "mse", "kl")
MAX_SAMPLES = 1 << 20  # values kept per tensor for percentile / MSE / KL (a uniform random subsample)


@dataclass
class Observer:
    """Running min/max plus a bounded uniform subsample of the values seen."""

    seed: int = 0
    keep: bool = True  # keep a subsample (percentile, MSE, KL); min/max needs none
    lo: float = np.inf
    hi: float = -np.inf
    seen: int = 0
    kept: list[np.ndarray] = field(default_factory=list)

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float32).reshape(-1)
        if x.size == 0:
            return
        self.lo = min(self.lo, float(x.min()))
        self.hi = max(self.hi, float(x.max()))
        self.seen += x.size
        if not self.keep:
            return
        # Keep each value with probability MAX_SAMPLES / seen-so-far budget: simple, unbiased enough for ranges.
        budget = MAX_SAMPLES // 8
        if x.size > budget:
            rng = np.random.default_rng([self.seed, self.seen])
            x = x[rng.choice(x.size, budget, replace=False)]
        self.kept.append(x)
        total = sum(k.size for k in self.kept)
        if total > MAX_SAMPLES:
            allv = np.concatenate(self.kept)
            rng = np.random.default_rng([self.seed, self.seen, 1])
            self.kept = [allv[rng.choice(allv.size, MAX_SAMPLES, replace=False)]]

    def samples(self) -> np.ndarray:
        return np.concatenate(self.kept) if self.kept else np.zeros(0, np.float32)

    def range(self, method: str = "minmax", percentile: float = 99.99) -> tuple[float, float]:
        """The clipping range [lo, hi] the method picks (not yet widened to include 0)."""
        if self.seen == 0:
            return 0.0, 0.0
        if method == "minmax":
            return self.lo, self.hi
        v = self.samples()
        if method == "percentile":
            lo, hi = np.percentile(v, [100.0 - percentile, percentile])
            return float(lo), float(hi)
        if method == "mse":
            return mse_range(v, self.lo, self.hi)
        if method == "kl":
            return kl_range(v, self.lo, self.hi)
        raise ValueError(f"unknown calibration method {method!r}; one of {METHODS}")


def fake_quant(v: np.ndarray, lo: float, hi: float, qmin: int = QMIN, qmax: int = QMAX) -> np.ndarray:
    """Quantize-dequantize with the affine parameters TFLite would use for the range [lo, hi]."""
    scale, zp = asymmetric_params(lo, hi, qmin, qmax)
    q = np.clip(np.round(v / scale) + zp, qmin, qmax)
    return (q - zp) * scale


def mse_range(v: np.ndarray, lo: float, hi: float, steps: int = 24) -> tuple[float, float]:
    """The range (lo, hi) * a, a in (0, 1], with the least quantize-dequantize squared error on v: a coarse
    grid of `steps` factors, then a finer grid around the best one."""
    if hi <= lo:
        return lo, hi
    v = v.astype(np.float32)

    def err(a: float) -> float:
        return float(np.mean(np.square(fake_quant(v, lo * a, hi * a) - v), dtype=np.float64))

    grid = np.linspace(1.0, 0.04, steps)
    errs = [err(a) for a in grid]
    i = int(np.argmin(errs))
    step = grid[0] - grid[1]
    fine = np.clip(np.linspace(grid[i] - step, grid[i] + step, 17), 0.01, 1.0)
    best = min(list(zip(errs, grid, strict=True)) + [(err(a), a) for a in fine])[1]
    return lo * float(best), hi * float(best)


def kl_range(v: np.ndarray, lo: float, hi: float, bins: int = 2048, levels: int = 256) -> tuple[float, float]:
    """Entropy calibration: the threshold whose `levels`-bin requantized histogram of v is closest in KL
    divergence to the clipped float histogram, over the non-zero |v|; intersected with [lo, hi]."""
    amax = max(abs(lo), abs(hi))
    if amax == 0:
        return lo, hi
    one_sided = lo >= 0 or hi <= 0
    v = v[v != 0]  # exact zeros (most of a ReLU output) are representable in any range; they would swamp bin 0
    if v.size == 0:
        return lo, hi
    hist, edges = np.histogram(np.abs(v), bins=bins, range=(0.0, amax))
    hist = hist.astype(np.float64)
    q_levels = levels if one_sided else levels // 2
    best_i, best_kl = bins, np.inf
    for i in range(q_levels, bins + 1, max(1, (bins - q_levels) // 256)):
        p = hist[:i].copy()
        p[-1] += hist[i:].sum()  # clipped mass lands in the last bin
        if p.sum() == 0:
            continue
        # Merge the i bins into q_levels groups and spread each group's mass back over its non-empty bins.
        groups = np.array_split(np.arange(i), q_levels)
        q = np.zeros(i)
        for gidx in groups:
            nz = hist[gidx] > 0
            if nz.any():
                q[gidx[nz]] = hist[gidx].sum() / nz.sum()
        ps, qs = p / p.sum(), q / max(q.sum(), 1e-30)
        m = ps > 0
        kl = float(np.sum(ps[m] * np.log(ps[m] / np.maximum(qs[m], 1e-12))))
        if kl < best_kl:
            best_i, best_kl = i, kl
    t = float(edges[best_i])
    return max(lo, -t), min(hi, t)
