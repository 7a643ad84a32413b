"""gemmlowp fixed-point transcendental functions (exp, 1/(1+x), logistic, tanh), vectorized over numpy.

TFLM's SOFTMAX, LOGISTIC and TANH int8 kernels are built on these; reproducing them operation by operation
(int32 raw values held in int64 arrays) is what makes the host model bit-exact.
"""

from __future__ import annotations

import numpy as np

from cimsdk.golden.fixedpoint import rdbpot, srdhm

I32_MAX = (1 << 31) - 1
I32_MIN = -(1 << 31)


def sat_shl(x: np.ndarray, exponent: int) -> np.ndarray:
    """SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0 (a saturating left shift)."""
    x = np.asarray(x, dtype=np.int64)
    threshold = (1 << (31 - exponent)) - 1
    res = x << exponent
    res = np.where(x > threshold, I32_MAX, res)
    return np.where(x < -threshold, I32_MIN, res)


def _exp_on_interval(a: np.ndarray) -> np.ndarray:
    """exp_on_interval_between_negative_one_quarter_and_0_excl (Q0.31 in and out)."""
    const_term = 1895147668
    one_third = 715827883
    x = a + (1 << 28)
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rdbpot(x4, 2)
    poly = rdbpot(srdhm(x4_over_4 + x3, one_third) + x2, 1)
    return const_term + srdhm(const_term, x + poly)


_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
           (3, 720401), (4, 242))


def exp_on_negative_values(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """exp(a) for a <= 0 given as Q(integer_bits).(31-integer_bits); result in Q0.31."""
    a = np.asarray(a, dtype=np.int64)
    frac_bits = 31 - integer_bits
    one_quarter = 1 << (frac_bits - 2)
    amq = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval(sat_shl(amq, integer_bits) if integer_bits > 0 else amq)
    remainder = amq - a
    for exponent, mult in _BARREL:
        if integer_bits > exponent:
            bit = 1 << (frac_bits + exponent)
            result = np.where(remainder & bit, srdhm(result, mult), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)
    return np.where(a == 0, I32_MAX, result)


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """1/(1+a) for a in [0, 1) (Q0.31), Newton-Raphson with gemmlowp's 48/17, 32/17 start."""
    a = np.asarray(a, dtype=np.int64)
    s = a + I32_MAX
    half_den = np.where(s >= 0, (s + 1) // 2, -((-(s - 1)) // 2))  # RoundingHalfSum, C division
    x = 1515870810 + srdhm(half_den, -1010580540)
    for _ in range(3):
        hdx = srdhm(half_den, x)
        x = x + sat_shl(srdhm(x, (1 << 29) - hdx), 2)
    return sat_shl(x, 1)


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """(1-a)/(1+a) for a in [0, 1) (Q0.31): the same Newton-Raphson as 1/(1+a), then x - 1 rescaled."""
    a = np.asarray(a, dtype=np.int64)
    s = a + I32_MAX
    half_den = np.where(s >= 0, (s + 1) // 2, -((-(s - 1)) // 2))  # RoundingHalfSum, C division
    x = 1515870810 + srdhm(half_den, -1010580540)
    for _ in range(3):
        hdx = srdhm(half_den, x)
        x = x + sat_shl(srdhm(x, (1 << 29) - hdx), 2)
    return sat_shl(x - (1 << 29), 2)


def tanh(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp::tanh for Q(integer_bits) input, Q0.31 output: -tanh(n) = (1 - e^2n)/(1 + e^2n) for n = -|a|
    (2n is the same raw value read with one more integer bit)."""
    a = np.asarray(a, dtype=np.int64)
    neg = a < 0
    n = np.where(neg, a, -a)
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(neg, -t, t))


def logistic(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp::logistic for Q(integer_bits) input, Q0.31 output."""
    a = np.asarray(a, dtype=np.int64)
    pos = a > 0
    abs_in = np.where(pos, a, -a)
    r_pos = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-abs_in, integer_bits))
    r_neg = I32_MAX - r_pos
    return np.where(a == 0, 1 << 30, np.where(pos, r_pos, r_neg))


def clz32(x: np.ndarray) -> np.ndarray:
    """Count leading zeros of positive int32 values."""
    x = np.asarray(x, dtype=np.int64)
    _, e = np.frexp(x.astype(np.float64))  # exact: x < 2^53, e = bit length
    return np.where(x <= 0, np.where(x == 0, 32, 0), 32 - e).astype(np.int64)


def get_reciprocal(x: np.ndarray, integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLM GetReciprocal: (Q0.31 scale, num_bits_over_unit) with x = scale^-1 * 2^num_bits_over_unit."""
    x = np.asarray(x, dtype=np.int64)
    hp1 = clz32(x)
    nbou = integer_digits - hp1
    shifted = ((x << hp1) & 0xFFFFFFFF) - (1 << 31)
    return one_over_one_plus_x_for_x_in_0_1(shifted), nbou
