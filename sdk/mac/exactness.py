"""When sums of int8 x int8 products are exact in floating point, per layer.

Every partial sum a BLAS kernel forms (in any order, blocked, with or without fused multiply-add) is a sum over
a subset of the products x_k w_k, so its magnitude is at most max|x| * sum_k |w_k|. The activations a CiM op
multiplies are raw int8 values (the input zero point is folded into the bias, and padding is filled with
the zero point), so max|x| = 128. If that bound is at most 2^24 for every output column, every product and
partial sum is an integer float32 represents exactly, so float32 arithmetic returns the exact integer sum;
likewise float64 up to 2^53. The all-(-128) worst case reaches 2^24 at K = 1024 rows; typical weights allow
far more. Layers past the float32 bound take float64, past that int64.
"""

from __future__ import annotations

import numpy as np

X_MAX = 128  # largest |int8 activation|
X_MAX16 = 32768  # largest |int16 activation| (TFLM's 16x8 mode)
F32_EXACT = 1 << 24
F64_EXACT = 1 << 53


def sum_bound(weights: np.ndarray, x_max: int = X_MAX) -> int:
    """max over columns of x_max * sum_k |w[n, k]|: the largest |partial sum| weights (N, K) can produce."""
    if weights.size == 0:
        return 0
    return x_max * int(np.abs(weights.astype(np.int64)).sum(axis=-1).max())


def exact_dtype(weights: np.ndarray, x_max: int = X_MAX) -> type:
    """The cheapest accumulation dtype whose sums over these int8 weights (N, K) are exact, for inputs of
    magnitude up to `x_max` (X_MAX16 for int16 activations)."""
    bound = sum_bound(weights, x_max)
    if bound <= F32_EXACT:
        return np.float32
    if bound <= F64_EXACT:
        return np.float64
    return np.int64


__all__ = ["F32_EXACT", "F64_EXACT", "X_MAX", "X_MAX16", "exact_dtype", "sum_bound"]
