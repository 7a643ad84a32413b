/* SOFTMAX int8 -> int8 or int16 over the last axis (TFLM reference_ops::Softmax, gemmlowp fixed point):
 * differences to the row maximum scaled to Q5.26, exp, a Q12.19 sum, its reciprocal, and outputs
 * with scale 1/256 and zero point -128 (int8) or scale 1/65536 and zero point -32768 (int16).
 * Rows up to CIM_SOFTMAX_CACHE long compute each exp once (the sum pass keeps it for the output pass);
 * longer rows compute it again, as TFLM does. */
#include <stdint.h>

#include "cim_gemmlowp.h"
#include "cim_kernel.h"

#ifndef CIM_SOFTMAX_CACHE
#define CIM_SOFTMAX_CACHE 64 /* row length whose exps are kept on the stack (4 bytes each) */
#endif

int cim_kernel_softmax(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                       cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_SOFTMAX_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    const int wide = output->dtype == CIMG_DTYPE_INT16;
    if (in->dtype != CIMG_DTYPE_INT8 || (output->dtype != CIMG_DTYPE_INT8 && !wide)) return CIM_E_UNSUPPORTED;
    if (output->nbytes != in->nbytes * (wide ? 2u : 1u)) return CIM_E_SHAPE;
    const int out_bits = wide ? 16 : 8;
    const int32_t out_min = wide ? INT16_MIN : INT8_MIN, out_max = wide ? INT16_MAX : INT8_MAX;
    const int32_t *p = op->params;
    const int32_t mult = p[CIM_P_SOFTMAX_INPUT_MULT], ls = p[CIM_P_SOFTMAX_INPUT_LEFT_SHIFT];
    const int32_t diff_min = p[CIM_P_SOFTMAX_DIFF_MIN];
    const int32_t depth = in->dims[3];
    if (depth <= 0) return CIM_E_SHAPE;
    const uint32_t rows = in->nbytes / (uint32_t)depth;
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y8 = (int8_t *)output->data;
    int16_t *y16 = (int16_t *)output->data;
    /* exp of each element once: kept for the output pass when the row fits (the exp dominates the op) */
    int32_t cache[CIM_SOFTMAX_CACHE];
    const int cached = depth <= CIM_SOFTMAX_CACHE;
    for (uint32_t r = 0; r < rows; ++r, x += depth) {
        int32_t max = INT8_MIN;
        for (int32_t c = 0; c < depth; ++c)
            if (x[c] > max) max = x[c];
        int32_t sum = 0; /* Q12.19 */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = x[c] - max;
            int32_t e = 0;
            if (diff >= diff_min) {
                const int32_t scaled = cim_srdhm((int32_t)((uint32_t)diff << ls), mult);
                e = cim_gl_exp_on_negative_values(scaled, 5);
                sum += cim_rdbpot(e, 12);
            }
            if (cached) cache[c] = e;
        }
        int nbou;
        const int32_t scale = cim_gl_reciprocal(sum, 12, &nbou);
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = x[c] - max;
            int32_t v = out_min;
            if (diff >= diff_min) {
                int32_t e;
                if (cached) {
                    e = cache[c];
                } else {
                    const int32_t scaled = cim_srdhm((int32_t)((uint32_t)diff << ls), mult);
                    e = cim_gl_exp_on_negative_values(scaled, 5);
                }
                v = cim_clamp(cim_rdbpot(cim_srdhm(scale, e), nbou + 31 - out_bits) + out_min, out_min, out_max);
            }
            const uint32_t i = r * (uint32_t)depth + (uint32_t)c;
            if (wide) y16[i] = (int16_t)v;
            else y8[i] = (int8_t)v;
        }
    }
    return CIM_OK;
}
