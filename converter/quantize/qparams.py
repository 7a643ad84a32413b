"""Scale and zero-point arithmetic of the TFLite quantization spec (public, tensorflow.org/lite/performance/
quantization_spec): activations asymmetric int8 (or symmetric int16 in 16x8 mode), weights symmetric int8
per channel with zero point 0 and range [-127, 127], biases int32 (int64 in 16x8) with scale
input_scale * weight_scale and zero point 0.
"""

from __future__ import annotations

import numpy as np

QMIN, QMAX = -128, 127
WMAX = 127  # weights use [-127, 127] so the range is symmetric
I16MAX = 32767


def asymmetric_params(lo: float, hi: float, qmin: int = QMIN, qmax: int = QMAX) -> tuple[float, int]:
    """(scale, zero point) for the float range [lo, hi], widened to include 0, zero point nudged onto the grid
    the way TFLite's calibrator does (from whichever end gives the smaller rounding error)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi == lo:
        return 1.0, 0
    scale = (hi - lo) / (qmax - qmin)
    zp_min, zp_max = qmin - lo / scale, qmax - hi / scale
    err_min, err_max = abs(qmin) + abs(lo / scale), abs(qmax) + abs(hi / scale)
    zpd = zp_min if err_min < err_max else zp_max
    zp = qmin if zpd < qmin else qmax if zpd > qmax else int(round(zpd))
    return float(np.float32(scale)), zp


def symmetric_params(lo: float, hi: float, qmax: int = I16MAX) -> tuple[float, int]:
    """(scale, 0) for a symmetric range covering [lo, hi] (16x8 activations)."""
    amax = max(abs(float(lo)), abs(float(hi)))
    return (float(np.float32(amax / qmax)) if amax > 0 else 1.0), 0


def channel_axis(opcode: str) -> int:
    """The output-channel axis of a weight tensor: [O,H,W,I] for CONV_2D and FULLY_CONNECTED ([O,I]),
    [1,H,W,O] for DEPTHWISE_CONV_2D."""
    return 3 if opcode == "DEPTHWISE_CONV_2D" else 0


def weight_scales(w: np.ndarray, axis: int, per_channel: bool) -> np.ndarray:
    """Symmetric int8 scales, max|w| / 127 per output channel (or one for the tensor); 1.0 for all-zero."""
    if per_channel:
        red = tuple(i for i in range(w.ndim) if i != axis)
        amax = np.abs(w).max(axis=red).astype(np.float64)
    else:
        amax = np.array([np.abs(w).max()], np.float64)
    s = amax / WMAX
    s[s == 0] = 1.0
    return s.astype(np.float32)


def quantize_weights(w: np.ndarray, scales: np.ndarray, axis: int) -> np.ndarray:
    """int8 weights round(w / scale) in [-127, 127], scale broadcast along the channel axis."""
    shape = [1] * w.ndim
    if scales.size > 1:
        shape[axis] = -1
    q = np.round(w.astype(np.float64) / scales.astype(np.float64).reshape(shape))
    return np.clip(q, -WMAX, WMAX).astype(np.int8)


def dequantize_weights(q: np.ndarray, scales: np.ndarray, axis: int) -> np.ndarray:
    shape = [1] * q.ndim
    if scales.size > 1:
        shape[axis] = -1
    return (q.astype(np.float64) * scales.astype(np.float64).reshape(shape)).astype(np.float32)


def quantize_bias(b: np.ndarray, in_scale: float, w_scales: np.ndarray, bits: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(integer bias, its scales): round(b / (in_scale * w_scale)), int32 (int64 for 16x8)."""
    scales = (np.float64(in_scale) * w_scales.astype(np.float64))
    info = np.iinfo(np.int32 if bits == 32 else np.int64)
    q = np.clip(np.round(b.astype(np.float64) / scales), info.min, info.max)
    return q.astype(np.int32 if bits == 32 else np.int64), scales.astype(np.float32)
