/* LOGISTIC int8 (TFLM reference_integer_ops::Logistic): input rescaled to Q4.27, gemmlowp logistic,
 * output scale 1/256 with zero point -128; inputs beyond the radius saturate. int16 (16x8): TFLM's 16-bit
 * table kernel (cim_sigmoid16.h), Q0.15 out. */
#include <stdint.h>

#include "cim_gemmlowp.h"
#include "cim_kernel.h"
#include "cim_sigmoid16.h"

int cim_kernel_logistic(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                        cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_LOGISTIC_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->dtype == CIMG_DTYPE_INT16 && output->dtype == CIMG_DTYPE_INT16) {
        if (in->nbytes != output->nbytes) return CIM_E_SHAPE;
        const int16_t *x = (const int16_t *)in->data;
        int16_t *y = (int16_t *)output->data;
        for (uint32_t i = 0; i < in->nbytes / 2u; ++i)
            y[i] = cim_sigmoid16(x[i], op->params[CIM_P_LOGISTIC_INPUT_MULT],
                                 op->params[CIM_P_LOGISTIC_INPUT_LEFT_SHIFT]);
        return CIM_OK;
    }
    if (in->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8) return CIM_E_UNSUPPORTED;
    if (in->nbytes != output->nbytes) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int32_t zp = p[CIM_P_LOGISTIC_IN_ZP], radius = p[CIM_P_LOGISTIC_INPUT_RANGE_RADIUS];
    const int32_t m = p[CIM_P_LOGISTIC_INPUT_MULT], ls = p[CIM_P_LOGISTIC_INPUT_LEFT_SHIFT];
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)output->data;
    for (uint32_t i = 0; i < in->nbytes; ++i) {
        const int32_t v = x[i] - zp;
        if (v <= -radius) {
            y[i] = INT8_MIN;
        } else if (v >= radius) {
            y[i] = INT8_MAX;
        } else {
            const int32_t q0 = cim_gl_logistic(cim_mbqm(v, m, ls), 4);
            y[i] = (int8_t)cim_clamp(cim_rdbpot(q0, 31 - 8) - 128, INT8_MIN, INT8_MAX);
        }
    }
    return CIM_OK;
}
