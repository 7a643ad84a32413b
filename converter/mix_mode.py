"""MIX mode (WTM2101 class): weights beyond the analog array's range split between the array and the CPU.

An analog array programs weights up to a magnitude `analog_weight_max` (a target parameter: WTM2101's analog
range is [-275, 275]). A wider weight is split at s = floor(log2(max + 1)) bits, as WTM2101's toolchain
splits wide weights (low byte on the array, high byte on the CPU): the array holds the low bits
lo = sign(w) (|w| mod 2^s), whose magnitude fits, and the MCU adds the rest, hi = w - lo, exactly. Weights
within range stay whole on the array. Both parts are integers and their products are added before the
requantization, so the ideal macro is bit-exact as before; with noise only the array's low bits carry error.

The split is a mapping option (`convert(..., mix=True)`, `cimsdk convert --mix`): without it a model with
weights beyond the range does not fit the target, and the converter says so. The image keeps the whole
weights (the array's cells and the CPU's part follow from them and META `mix`); the report counts the
CPU's multiply-accumulates.
"""

from __future__ import annotations

import math

import numpy as np

from cimconv.errors import FitError
from cimconv.lowering import Lowered
from cimconv.target import Target


def split_bits(analog_max: int) -> int:
    """Bits the array keeps of a split weight: the widest power of two minus one within the range."""
    return int(math.floor(math.log2(analog_max + 1)))


def split(w: np.ndarray, analog_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer weights -> (array part, CPU part), their sum the weights; the CPU part 0 within range."""
    w = np.asarray(w, np.int64)
    mag = np.abs(w)
    low = mag & ((1 << split_bits(analog_max)) - 1)
    lo = np.where(mag > analog_max, np.sign(w) * low, w)
    return lo, w - lo


def plan(lowered: list[Lowered], t: Target, mix: bool) -> dict | None:
    """META `mix` of a program (None when no weight is beyond the target's analog range); without `mix`,
    a FitError naming the layers whose weights do not fit the array."""
    limit = t.analog_weight_max
    if limit <= 0:
        if mix:
            raise FitError(f"--mix: target {t.name} has no analog weight range ([macro] analog_weight_max); "
                           "every weight fits its array")
        return None
    beyond: dict[int, int] = {}
    peak = 0
    for low in lowered:
        if low.cim:
            w = np.abs(low.matrix.weights.astype(np.int64))
            n = int((w > limit).sum())
            if n:
                beyond[low.params["matrix"]] = n
                peak = max(peak, int(w.max()))
    if not beyond:
        return None
    if not mix:
        raise FitError(f"{sum(beyond.values()):,} weights of {len(beyond)} layer(s) exceed the analog weight range "
                       f"of {t.name} (|w| <= {limit}; largest {peak}); convert with --mix to compute their high "
                       "bits on the CPU (MIX mode), or use a target with a wider range")
    return {"analog_max": limit, "split_bits": split_bits(limit), "cpu_weights": {str(k): v for k, v in beyond.items()}}
