/* MEAN int8 or int16 (TFLM reduce.h QuantizedMeanOrSum, integer path): sum(x - in_zp) over the reduced axes,
 * then one MultiplyByQuantizedMultiplier whose multiplier the converter already divided by the count. */
#include <stdint.h>

#include "cim_gemmlowp.h"
#include "cim_kernel.h"

/* Each output element in order: the sum over its reduced extent, requantized and saturated to T. */
#define MEAN_BODY(T, T_MIN, T_MAX)                                                                         \
    do {                                                                                                   \
        const T *x = (const T *)in->data;                                                                  \
        T *y = (T *)output->data;                                                                          \
        for (int32_t a0 = 0; a0 < o[0]; ++a0)                                                              \
            for (int32_t a1 = 0; a1 < o[1]; ++a1)                                                          \
                for (int32_t a2 = 0; a2 < o[2]; ++a2)                                                      \
                    for (int32_t a3 = 0; a3 < o[3]; ++a3) {                                                \
                        const T *base = x + a0 * st[0] + a1 * st[1] + a2 * st[2] + a3 * st[3];            \
                        int32_t sum = 0;                                                                   \
                        for (int32_t b0 = 0; b0 < r[0]; ++b0)                                              \
                            for (int32_t b1 = 0; b1 < r[1]; ++b1)                                          \
                                for (int32_t b2 = 0; b2 < r[2]; ++b2) {                                    \
                                    const T *q = base + b0 * st[0] + b1 * st[1] + b2 * st[2];              \
                                    for (int32_t b3 = 0; b3 < r[3]; ++b3) sum += q[b3 * st[3]];            \
                                }                                                                          \
                        *y++ = (T)cim_clamp(cim_mbqm(sum - in_zp * count, m, s) + out_zp, T_MIN, T_MAX);   \
                    }                                                                                      \
    } while (0)

int cim_kernel_mean(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_MEAN_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    const int width = cim_width_8_16(in->dtype, output->dtype);
    if (!width) return CIM_E_UNSUPPORTED;
    const int32_t *p = op->params;
    const int32_t mask = p[CIM_P_MEAN_AXIS_MASK], in_zp = p[CIM_P_MEAN_IN_ZP], out_zp = p[CIM_P_MEAN_OUT_ZP];
    const int32_t m = p[CIM_P_MEAN_MULT], s = p[CIM_P_MEAN_SHIFT];
    /* per 4-D axis: output extent o[d] and reduced extent r[d] (one of them is 1) */
    int32_t o[4], r[4], st[4];
    const int lead = 4 - (int)in->rank;
    int32_t count = 1, stride = 1, outs = 1;
    for (int d = 3; d >= 0; --d) {
        const int reduced = d >= lead && ((mask >> (d - lead)) & 1);
        o[d] = reduced ? 1 : in->dims[d];
        r[d] = reduced ? in->dims[d] : 1;
        st[d] = stride;
        stride *= in->dims[d];
        count *= r[d];
        outs *= o[d];
    }
    if ((uint32_t)outs * (uint32_t)width != output->nbytes) return CIM_E_SHAPE;
    if (width == 2)
        MEAN_BODY(int16_t, INT16_MIN, INT16_MAX);
    else
        MEAN_BODY(int8_t, INT8_MIN, INT8_MAX);
    return CIM_OK;
}
