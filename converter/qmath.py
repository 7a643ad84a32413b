"""TFLite/TFLM quantization helpers computed at convert time (double precision, as TFLM's Prepare does)."""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127


class QuantRangeError(ValueError):
    """A rescaling factor that no TFLM multiplier represents (from damaged scales); the lowering names the op."""


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier: real = q * 2^(shift-31) with q in [2^30, 2^31)."""
    if not math.isfinite(real) or real < 0.0:
        raise QuantRangeError(f"rescaling factor {real} (from the tensors' scales) is not a finite number >= 0")
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(math.floor(q * (1 << 31) + 0.5))  # std::round (half away from zero); q > 0 here
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        shift = 30
        q_fixed = (1 << 31) - 1
    return q_fixed, shift


def activation_range(act: str, scale: float, zero_point: int, qmin: int = INT8_MIN, qmax: int = INT8_MAX
                     ) -> tuple[int, int]:
    """TFLM CalculateActivationRangeQuantized for a fused activation."""

    def q(x: float) -> int:
        # TFLM: zero_point + TfLiteRound(f / scale) in float32, rounding half away from zero; its Prepare fails
        # (no_integer_overflow_from_quantization) when the rounded value leaves int32: a degenerate scale
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            v = float(np.float32(x) / np.float32(scale))
        r = math.copysign(math.floor(abs(v) + 0.5), v) if math.isfinite(v) else v
        if not -(2.0**31) <= r <= float(np.float32(2**31 - 1)):
            raise QuantRangeError(f"the {act} bound {x} is {v:.3g} steps of the output scale {scale:.3g}, beyond "
                                  "int32 (TFLM refuses such a scale)")
        return zero_point + int(r)

    if act in ("NONE", None):
        return qmin, qmax
    if act == "RELU":
        return max(qmin, q(0.0)), qmax
    if act == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if act == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(act)
