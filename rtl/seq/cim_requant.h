/* TFLM's requantization of one accumulator, as tflite-micro's reference kernels compute it:
 * MultiplyByQuantizedMultiplier(x, mult, shift) = RoundingDivideByPOT(
 *     SaturatingRoundingDoublingHighMul(x * (1 << left), mult), right), then + out_zp and the clamp.
 * The 64-bit product comes from four 16 x 16 products of the magnitudes (`mul16`, defined by the
 * includer: the coprocessor's DSP multiplier in rtl/seq/cim_seq.c, a plain product in the host test
 * rtl/sim/requant_host.c). (ab + nudge) / 2^31 toward zero is, for both signs, (ab + 2^30) >> 31.
 */
#ifndef CIM_REQUANT_H
#define CIM_REQUANT_H
#include <stdint.h>

static uint32_t mul16(uint32_t a, uint32_t b);

__attribute__((noinline)) static int32_t cim_requant(int32_t x, int32_t mult, int32_t shift, int32_t y_zp,
                                                     int32_t y_min, int32_t y_max) {
    uint32_t left = shift > 0 ? (uint32_t)shift & 63 : 0, right = shift > 0 ? 0 : (uint32_t)(-shift) & 63;
    int32_t xl = left >= 32 ? 0 : (int32_t)((uint32_t)x << left);
    uint32_t ua = xl < 0 ? -(uint32_t)xl : (uint32_t)xl, ub = mult < 0 ? -(uint32_t)mult : (uint32_t)mult;
    uint32_t ll = mul16(ua & 0xffff, ub & 0xffff), lh = mul16(ua & 0xffff, ub >> 16);
    uint32_t hl = mul16(ua >> 16, ub & 0xffff), hh = mul16(ua >> 16, ub >> 16);
    uint64_t p = (uint64_t)ll + ((uint64_t)lh << 16) + ((uint64_t)hl << 16) + ((uint64_t)hh << 32);
    if ((xl < 0) != (mult < 0)) p = -p;
    int32_t hi = (int32_t)(uint32_t)((p + (1ull << 30)) >> 31);
    if (xl == INT32_MIN && mult == INT32_MIN) hi = INT32_MAX;
    uint32_t mask = right >= 32 ? 0xffffffffu : (1u << right) - 1;
    uint32_t rem = (uint32_t)hi & mask, thr = (mask >> 1) + (hi < 0 ? 1u : 0u);
    int32_t q = right >= 32 ? (hi < 0 ? -1 : 0) : hi >> right;
    q += rem > thr ? 1 : 0;
    int32_t z = (int32_t)((uint32_t)q + (uint32_t)y_zp);
    if (z < y_min) z = y_min;
    if (z > y_max) z = y_max;
    return z;
}
#endif
