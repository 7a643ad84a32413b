/* HARD_SWISH int8 (TFLM reference_ops::HardSwish, quantized): 16-bit fixed point. The input moves to a hires
 * scale (x 128), is rescaled to the output's pre-shift scale and multiplied by a "relu-ish" factor in [0, 1]
 * (the input rescaled so that 3.0 is 32768, saturated, moved to [0, 1]); then the output shift and zero point. */
#include <stdint.h>

#include "cim_kernel.h"

#define I16_MIN (-32768)
#define I16_MAX 32767

static int16_t srdhm16(int16_t a, int16_t b) { /* gemmlowp SaturatingRoundingDoublingHighMul<int16_t> */
    if (a == b && a == I16_MIN) return I16_MAX;
    const int32_t ab = (int32_t)a * (int32_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}

static int16_t sdhm16(int16_t a, int16_t b) { /* SaturatingDoublingHighMul: rounds toward zero */
    if (a == b && a == I16_MIN) return I16_MAX;
    return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}

static int16_t rdbpot16(int16_t x, int exponent) { /* gemmlowp RoundingDivideByPOT<int16_t> */
    const int32_t mask = (1 << exponent) - 1;
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

static int16_t sat_lshift16(int16_t x, int amount) {
    const int64_t r = (int64_t)x * ((int64_t)1 << amount);
    return (int16_t)(r > I16_MAX ? I16_MAX : (r < I16_MIN ? I16_MIN : r));
}

int cim_check_hard_swish(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                         const cim_tensor_t *output) {
    if (n_inputs != 1 || op->n_params != CIM_OP_HARD_SWISH_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8) return CIM_E_UNSUPPORTED;
    if (in->rank != output->rank) return CIM_E_SHAPE;
    for (int d = 0; d < 4; ++d)
        if (in->dims[d] != output->dims[d]) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    if (p[CIM_P_HARD_SWISH_IN_ZP] < -128 || p[CIM_P_HARD_SWISH_IN_ZP] > 127 || p[CIM_P_HARD_SWISH_OUT_ZP] < -128 ||
        p[CIM_P_HARD_SWISH_OUT_ZP] > 127 || p[CIM_P_HARD_SWISH_OUT_MULT] < 0 || p[CIM_P_HARD_SWISH_OUT_MULT] > I16_MAX ||
        p[CIM_P_HARD_SWISH_RELUISH_MULT] < 0 || p[CIM_P_HARD_SWISH_RELUISH_MULT] > I16_MAX ||
        p[CIM_P_HARD_SWISH_OUT_EXP] < -15 || p[CIM_P_HARD_SWISH_OUT_EXP] > 0 ||
        p[CIM_P_HARD_SWISH_RELUISH_EXP] < -15 || p[CIM_P_HARD_SWISH_RELUISH_EXP] > 15)
        return CIM_E_PARAM;
    return CIM_OK;
}

int cim_kernel_hard_swish(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                          cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_HARD_SWISH_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8) return CIM_E_UNSUPPORTED;
    if (in->nbytes != output->nbytes) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int32_t in_zp = p[CIM_P_HARD_SWISH_IN_ZP], out_zp = p[CIM_P_HARD_SWISH_OUT_ZP];
    const int16_t out_mult = (int16_t)p[CIM_P_HARD_SWISH_OUT_MULT], rel_mult = (int16_t)p[CIM_P_HARD_SWISH_RELUISH_MULT];
    const int out_exp = p[CIM_P_HARD_SWISH_OUT_EXP], rel_exp = p[CIM_P_HARD_SWISH_RELUISH_EXP];
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)output->data;
    for (uint32_t i = 0; i < in->nbytes; ++i) {
        const int16_t v = (int16_t)(x[i] - in_zp);
        const int16_t hires = (int16_t)(v * (1 << 7));
        const int16_t preshift = srdhm16(hires, out_mult);
        int16_t r = hires;
        if (rel_exp > 0) r = sat_lshift16(r, rel_exp - 1);
        r = srdhm16(r, rel_mult);
        if (rel_exp > 0) r = sat_lshift16(r, 1);
        if (rel_exp < 0) r = rdbpot16(r, -rel_exp);
        r = (int16_t)((r + (1 << 15)) >> 1);
        int16_t out = (int16_t)(rdbpot16(sdhm16(r, preshift), -out_exp) + out_zp);
        y[i] = (int8_t)(out > 127 ? 127 : (out < -128 ? -128 : out));
    }
    return CIM_OK;
}
