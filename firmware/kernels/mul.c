/* MUL int8 or int16 (16x8) (TFLM reference_integer_ops::MulElementwise) with 4-D broadcasting. */
#include <stdint.h>

#include "cim_bcast.h"
#include "cim_gemmlowp.h"
#include "cim_kernel.h"

int cim_kernel_mul(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    if (n_inputs < 2 || op->n_params < CIM_OP_MUL_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *a = inputs[0], *b = inputs[1];
    const int wide = a->dtype == CIMG_DTYPE_INT16 && b->dtype == CIMG_DTYPE_INT16 && output->dtype == CIMG_DTYPE_INT16;
    if (!wide && (a->dtype != CIMG_DTYPE_INT8 || b->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8))
        return CIM_E_UNSUPPORTED;
    int32_t sa[4], sb[4];
    if (cim_bcast_strides(a, output, sa) || cim_bcast_strides(b, output, sb)) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int32_t off1 = p[CIM_P_MUL_IN1_OFFSET], off2 = p[CIM_P_MUL_IN2_OFFSET];
    const int32_t out_off = p[CIM_P_MUL_OUT_OFFSET];
    const int32_t mo = p[CIM_P_MUL_OUT_MULT], so = p[CIM_P_MUL_OUT_SHIFT];
    const int32_t lo = p[CIM_P_MUL_ACT_MIN], hi = p[CIM_P_MUL_ACT_MAX];
    if (wide) {
        CIM_BCAST_FOR_EACH2_T(int16_t, output, a, sa, b, sb, y, v1, v2, {
            *y++ = (int16_t)cim_clamp(cim_mbqm((off1 + v1) * (off2 + v2), mo, so) + out_off, lo, hi);
        });
        return CIM_OK;
    }
    CIM_BCAST_FOR_EACH2(output, a, sa, b, sb, y, v1, v2, {
        *y++ = (int8_t)cim_clamp(cim_mbqm((off1 + v1) * (off2 + v2), mo, so) + out_off, lo, hi);
    });
    return CIM_OK;
}
