"""The two tables of TFLM's int16 SOFTMAX, which its Prepare builds in float32 (gen_lut<float, int16_t, int16_t>):
exp(x) on [-10, 0] and 1 / (1 + x) on [0, 1], each 512 samples plus the end value, in Q0.15, every sample nudged
by half the error of linear interpolation at the midpoint of its step.

The converter builds them once per op into a constant int16[1026] tensor of the SOFTMAX record (exp, then
1 / (1 + x)), so the golden model and the firmware interpolate exactly the values TFLM's Prepare made: every step
is float32 arithmetic as in C (`numpy.float32` scalars), rounding is TFLite's (half away from zero), and numpy's
float32 exp agrees with glibc's `expf` on all 1,026 points (checked when this was written; the tests compare
softmax outputs with TFLM on random inputs).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

STEPS = 512
LUT_SIZE = STEPS + 1  # TFLM's kInt16LUTArraySize
f32 = np.float32


def _round(x: np.float32) -> np.float32:
    """TfLiteRound on a float: half away from zero (exact in double for a float32 value)."""
    v = float(x)
    return f32(math.copysign(math.floor(abs(v) + 0.5), v))


def gen_lut(func: Callable[[np.float32], np.float32], lo: float, hi: float) -> np.ndarray:
    """TFLM gen_lut for an int16 -> int16 table over [lo, hi] with output range [-1, 1]."""
    step = f32((f32(hi) - f32(lo)) / f32(STEPS))
    half = f32(step / f32(2))
    inv = f32(f32(65536) / f32(f32(1) - f32(-1)))  # (max - min + 1) / (output_max - output_min)
    out = np.empty(LUT_SIZE, np.int16)
    for i in range(STEPS):
        at = f32(f32(lo) + f32(f32(i) * step))
        val, mid = func(at), func(f32(at + half))
        nxt = func(f32(f32(lo) + f32(f32(i + 1) * step)))
        sample = _round(f32(val * inv))
        interp = _round(f32(f32(f32(nxt * inv) + _round(f32(val * inv))) / f32(2)))
        bias = _round(f32(f32(interp - _round(f32(mid * inv))) / f32(2)))
        out[i] = int(min(max(f32(sample - bias), f32(-32768)), f32(32767)))
    out[STEPS] = int(min(max(_round(f32(func(f32(hi)) * inv)), f32(-32768)), f32(32767)))
    return out


def _exp(v: np.float32) -> np.float32:
    return f32(np.exp(f32(v)))


def _one_over_one_plus(v: np.float32) -> np.float32:
    return f32(f32(1) / f32(f32(1) + f32(v)))


def tables() -> np.ndarray:
    """int16[1026]: TFLM's exp table on [-10, 0], then its 1 / (1 + x) table on [0, 1]."""
    return np.concatenate([gen_lut(_exp, -10.0, 0.0), gen_lut(_one_over_one_plus, 0.0, 1.0)])
