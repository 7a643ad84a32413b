/* ADD and SUB int8 (TFLM reference_integer_ops::AddFunc, reference_ops::BroadcastQuantSubSlow) with 4-D
 * broadcasting: both inputs shifted left by left_shift (20), rescaled to twice the larger input scale,
 * summed or subtracted, requantized. The two ops share one parameter layout (contracts/ops.py). ADD also
 * takes int16 (TFLM's 16x8 mode: reference_ops::AddElementwise, left_shift 15, zero points 0). */
#ifndef CIM_ADDSUB_H
#define CIM_ADDSUB_H

#include <stdint.h>

#include "cim_bcast.h"
#include "cim_gemmlowp.h"
#include "cim_kernel.h"

/* subtract: 0 for ADD, 1 for SUB. Parameter indices are ADD's; SUB's are the same (generated header). */
static inline int cim_addsub_run(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                                 cim_tensor_t *output, int subtract) {
    if (n_inputs < 2 || op->n_params < CIM_OP_ADD_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *a = inputs[0], *b = inputs[1];
    const int wide = !subtract && a->dtype == CIMG_DTYPE_INT16 && b->dtype == CIMG_DTYPE_INT16 &&
                     output->dtype == CIMG_DTYPE_INT16; /* 16x8 ADD: left_shift 15, offsets 0 */
    if (!wide && (a->dtype != CIMG_DTYPE_INT8 || b->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8))
        return CIM_E_UNSUPPORTED;
    int32_t sa[4], sb[4];
    if (cim_bcast_strides(a, output, sa) || cim_bcast_strides(b, output, sb)) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int32_t off1 = p[CIM_P_ADD_IN1_OFFSET], off2 = p[CIM_P_ADD_IN2_OFFSET];
    const int32_t out_off = p[CIM_P_ADD_OUT_OFFSET], ls = p[CIM_P_ADD_LEFT_SHIFT];
    const int32_t m1 = p[CIM_P_ADD_IN1_MULT], s1 = p[CIM_P_ADD_IN1_SHIFT];
    const int32_t m2 = p[CIM_P_ADD_IN2_MULT], s2 = p[CIM_P_ADD_IN2_SHIFT];
    const int32_t mo = p[CIM_P_ADD_OUT_MULT], so = p[CIM_P_ADD_OUT_SHIFT];
    const int32_t lo = p[CIM_P_ADD_ACT_MIN], hi = p[CIM_P_ADD_ACT_MAX];
    if (wide) {
        CIM_BCAST_FOR_EACH2_T(int16_t, output, a, sa, b, sb, y, v1, v2, {
            const int32_t t1 = cim_mbqm((int32_t)((uint32_t)(off1 + v1) << ls), m1, s1);
            const int32_t t2 = cim_mbqm((int32_t)((uint32_t)(off2 + v2) << ls), m2, s2);
            *y++ = (int16_t)cim_clamp(cim_mbqm(t1 + t2, mo, so) + out_off, lo, hi);
        });
        return CIM_OK;
    }
    CIM_BCAST_FOR_EACH2(output, a, sa, b, sb, y, v1, v2, {
        const int32_t t1 = cim_mbqm((int32_t)((uint32_t)(off1 + v1) << ls), m1, s1);
        const int32_t t2 = cim_mbqm((int32_t)((uint32_t)(off2 + v2) << ls), m2, s2);
        const int32_t raw = subtract ? t1 - t2 : t1 + t2;
        *y++ = (int8_t)cim_clamp(cim_mbqm(raw, mo, so) + out_off, lo, hi);
    });
    return CIM_OK;
}

#endif /* CIM_ADDSUB_H */
