/* SUB int8 (TFLM reference_ops::Sub / BroadcastQuantSubSlow) with 4-D broadcasting: both inputs are
 * shifted left by left_shift (20), rescaled to twice the larger input scale, subtracted and requantized. */
#include <stdint.h>

#include "cim_bcast.h"
#include "cim_gemmlowp.h"
#include "cim_kernel.h"

int cim_check_sub(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, const cim_tensor_t *output) {
    if (n_inputs != 2 || op->n_params != CIM_OP_SUB_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *a = inputs[0], *b = inputs[1];
    if (a->dtype != CIMG_DTYPE_INT8 || b->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8)
        return CIM_E_UNSUPPORTED;
    int32_t s[4];
    if (output->rank != (a->rank > b->rank ? a->rank : b->rank) || cim_bcast_strides(a, output, s) ||
        cim_bcast_strides(b, output, s))
        return CIM_E_SHAPE;
    for (int d = 0; d < 4; ++d) /* every output dim comes from an input */
        if (output->dims[d] != (a->dims[d] > b->dims[d] ? a->dims[d] : b->dims[d])) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    if (p[CIM_P_SUB_IN1_OFFSET] < -127 || p[CIM_P_SUB_IN1_OFFSET] > 128 || p[CIM_P_SUB_IN2_OFFSET] < -127 ||
        p[CIM_P_SUB_IN2_OFFSET] > 128 || p[CIM_P_SUB_OUT_OFFSET] < -128 || p[CIM_P_SUB_OUT_OFFSET] > 127 ||
        p[CIM_P_SUB_LEFT_SHIFT] != 20)
        return CIM_E_PARAM;
    const int mults[3] = {CIM_P_SUB_IN1_MULT, CIM_P_SUB_IN2_MULT, CIM_P_SUB_OUT_MULT};
    const int shifts[3] = {CIM_P_SUB_IN1_SHIFT, CIM_P_SUB_IN2_SHIFT, CIM_P_SUB_OUT_SHIFT};
    for (int i = 0; i < 3; ++i)
        if (p[mults[i]] < 0 || p[shifts[i]] < -31 || p[shifts[i]] > 0) return CIM_E_PARAM;
    const int32_t lo = p[CIM_P_SUB_ACT_MIN], hi = p[CIM_P_SUB_ACT_MAX];
    return lo >= -128 && hi <= 127 && lo <= hi ? CIM_OK : CIM_E_PARAM;
}

int cim_kernel_sub(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    if (n_inputs < 2 || op->n_params < CIM_OP_SUB_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *a = inputs[0], *b = inputs[1];
    if (a->dtype != CIMG_DTYPE_INT8 || b->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8)
        return CIM_E_UNSUPPORTED;
    int32_t sa[4], sb[4];
    if (cim_bcast_strides(a, output, sa) || cim_bcast_strides(b, output, sb)) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int32_t off1 = p[CIM_P_SUB_IN1_OFFSET], off2 = p[CIM_P_SUB_IN2_OFFSET];
    const int32_t out_off = p[CIM_P_SUB_OUT_OFFSET], ls = p[CIM_P_SUB_LEFT_SHIFT];
    const int32_t m1 = p[CIM_P_SUB_IN1_MULT], s1 = p[CIM_P_SUB_IN1_SHIFT];
    const int32_t m2 = p[CIM_P_SUB_IN2_MULT], s2 = p[CIM_P_SUB_IN2_SHIFT];
    const int32_t mo = p[CIM_P_SUB_OUT_MULT], so = p[CIM_P_SUB_OUT_SHIFT];
    const int32_t lo = p[CIM_P_SUB_ACT_MIN], hi = p[CIM_P_SUB_ACT_MAX];
    const int8_t *x1 = (const int8_t *)a->data, *x2 = (const int8_t *)b->data;
    int8_t *y = (int8_t *)output->data;
    const int32_t *d = output->dims;
    for (int32_t i0 = 0; i0 < d[0]; ++i0)
        for (int32_t i1 = 0; i1 < d[1]; ++i1)
            for (int32_t i2 = 0; i2 < d[2]; ++i2) {
                const int8_t *r1 = x1 + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
                const int8_t *r2 = x2 + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
                for (int32_t i3 = 0; i3 < d[3]; ++i3) {
                    const int32_t v1 = (int32_t)((uint32_t)(off1 + r1[i3 * sa[3]]) << ls);
                    const int32_t v2 = (int32_t)((uint32_t)(off2 + r2[i3 * sb[3]]) << ls);
                    const int32_t diff = cim_mbqm(v1, m1, s1) - cim_mbqm(v2, m2, s2);
                    *y++ = (int8_t)cim_clamp(cim_mbqm(diff, mo, so) + out_off, lo, hi);
                }
            }
    return CIM_OK;
}
