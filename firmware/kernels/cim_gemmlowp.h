/* gemmlowp fixed-point exp / reciprocal / logistic / tanh as TFLM's SOFTMAX, LOGISTIC and TANH int8 kernels use
 * them (raw int32 values; Qm.n formats noted per function). Mirrors sdk/golden/kernels/_gemmlowp.py. */
#ifndef CIM_GEMMLOWP_H
#define CIM_GEMMLOWP_H

#include <stdint.h>

#include "cim_kernel.h"

/* int32 addition that wraps like gemmlowp's raw adds (no UB) */
static inline int32_t cim_gl_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

/* SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0 */
static inline int32_t cim_gl_sat_shl(int32_t x, int exponent) {
    const int32_t threshold = (int32_t)((UINT32_C(1) << (31 - exponent)) - 1u);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << exponent);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out */
static inline int32_t cim_gl_exp_interval(int32_t a) {
    const int32_t constant_term = 1895147668;   /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    int32_t x = cim_gl_add(a, 1 << 28);
    int32_t x2 = cim_srdhm(x, x);
    int32_t x3 = cim_srdhm(x2, x);
    int32_t x4 = cim_srdhm(x2, x2);
    int32_t x4_over_4 = cim_rdbpot(x4, 2);
    int32_t poly = cim_rdbpot(cim_gl_add(cim_srdhm(cim_gl_add(x4_over_4, x3), constant_1_over_3), x2), 1);
    return cim_gl_add(constant_term, cim_srdhm(constant_term, cim_gl_add(x, poly)));
}

/* exp(a) for a <= 0 in Q(integer_bits).(31-integer_bits), result Q0.31 */
static inline int32_t cim_gl_exp_on_negative_values(int32_t a, int integer_bits) {
    static const int32_t mult[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int frac_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (frac_bits - 2);
    const int32_t amq = (a & (one_quarter - 1)) - one_quarter;
    int32_t result = cim_gl_exp_interval(integer_bits > 0 ? cim_gl_sat_shl(amq, integer_bits) : amq);
    const uint32_t remainder = (uint32_t)amq - (uint32_t)a;
    for (int e = -2; e <= 4; ++e) {
        if (integer_bits > e && (remainder & (UINT32_C(1) << (frac_bits + e))))
            result = cim_srdhm(result, mult[e + 2]);
    }
    if (integer_bits > 5 && a < -((int32_t)1 << (36 - integer_bits))) result = 0;
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1) Q0.31; Newton-Raphson, result Q0.31 */
static inline int32_t cim_gl_one_over_one_plus_x(int32_t a) {
    /* RoundingHalfSum(a, one): (a + INT32_MAX + 1) / 2 for a >= 0 */
    int32_t half_den = (int32_t)(((int64_t)a + INT32_MAX + 1) / 2);
    int32_t x = cim_gl_add(1515870810, cim_srdhm(half_den, -1010580540)); /* 48/17 - 32/17 d (Q2.29) */
    for (int i = 0; i < 3; ++i) {
        int32_t hdx = cim_srdhm(half_den, x);
        int32_t one_minus = (1 << 29) - hdx;
        x = cim_gl_add(x, cim_gl_sat_shl(cim_srdhm(x, one_minus), 2));
    }
    return cim_gl_sat_shl(x, 1);
}

/* (1 - a) / (1 + a) for a in [0, 1) Q0.31; the Newton-Raphson above, then x - 1 rescaled, result Q0.31 */
static inline int32_t cim_gl_one_minus_x_over_one_plus_x(int32_t a) {
    int32_t half_den = (int32_t)(((int64_t)a + INT32_MAX + 1) / 2);
    int32_t x = cim_gl_add(1515870810, cim_srdhm(half_den, -1010580540));
    for (int i = 0; i < 3; ++i) {
        int32_t hdx = cim_srdhm(half_den, x);
        x = cim_gl_add(x, cim_gl_sat_shl(cim_srdhm(x, (1 << 29) - hdx), 2));
    }
    return cim_gl_sat_shl(x - (1 << 29), 2);
}

/* tanh(a), a in Q(integer_bits), result Q0.31: -tanh(n) = (1 - e^2n) / (1 + e^2n) for n = -|a|, 2n being the
 * same raw value with one more integer bit */
static inline int32_t cim_gl_tanh(int32_t a, int integer_bits) {
    if (a == 0) return 0;
    const int32_t n = a < 0 ? a : -a;
    const int32_t t = cim_gl_one_minus_x_over_one_plus_x(cim_gl_exp_on_negative_values(n, integer_bits + 1));
    return a < 0 ? -t : t;
}

/* logistic(a), a in Q(integer_bits), result Q0.31 */
static inline int32_t cim_gl_logistic(int32_t a, int integer_bits) {
    if (a == 0) return 1 << 30;
    int32_t abs_in = a > 0 ? a : -a;
    int32_t r = cim_gl_one_over_one_plus_x(cim_gl_exp_on_negative_values(-abs_in, integer_bits));
    return a > 0 ? r : INT32_MAX - r;
}

/* TFLM GetReciprocal: x > 0 with x_integer_digits integer bits -> Q0.31 scale, *num_bits_over_unit */
static inline int32_t cim_gl_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit) {
    int headroom_plus_one = __builtin_clz((unsigned)x);
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    int32_t shifted_minus_one = (int32_t)(((uint32_t)x << headroom_plus_one) - (UINT32_C(1) << 31));
    return cim_gl_one_over_one_plus_x(shifted_minus_one);
}

/* TFLM MultiplyByQuantizedMultiplier(int64_t x, ...) of the 16x8 kernels: a 16-bit reduced multiplier and one
 * rounding right shift by 15 - shift (shift < 8, |x| < 2^47). */
static inline int64_t cim_mbqm64(int64_t x, int32_t mult, int32_t shift) {
    const int64_t reduced = mult < 0x7FFF0000 ? (mult + (1 << 15)) >> 16 : 0x7FFF;
    const int total = 15 - shift;
    return (x * reduced + ((int64_t)1 << (total - 1))) >> total;
}

static inline int32_t cim_clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

#endif /* CIM_GEMMLOWP_H */
