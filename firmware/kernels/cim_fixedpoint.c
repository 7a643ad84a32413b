/* TFLM's reference fixed-point arithmetic (gemmlowp SaturatingRoundingDoublingHighMul,
 * RoundingDivideByPOT and MultiplyByQuantizedMultiplier without TFLITE_SINGLE_ROUNDING).
 * The host golden model (sdk/golden/fixedpoint.py) computes the same functions. */
#include <stdint.h>

#include "cim_kernel.h"

int32_t cim_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : (1 - (INT64_C(1) << 30));
    return (int32_t)((ab + nudge) / (INT64_C(1) << 31)); /* C division truncates toward zero */
}

int32_t cim_rdbpot(int32_t x, int32_t exponent) {
    int32_t mask = (int32_t)((UINT32_C(1) << exponent) - 1u);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t cim_mbqm(int32_t x, int32_t quantized_multiplier, int32_t shift) {
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    /* x * (1 << left) as TFLM computes it in int32 (wrapping instead of UB) */
    int32_t xl = (int32_t)((uint32_t)x << left);
    return cim_rdbpot(cim_srdhm(xl, quantized_multiplier), right);
}
