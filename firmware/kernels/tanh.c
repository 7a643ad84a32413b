/* TANH int8 (TFLM reference_integer_ops::Tanh): input rescaled to Q4.27, gemmlowp tanh, output codes of
 * scale 1/128 (zero point 0); inputs beyond the radius saturate. int16 (16x8): TFLM's 16-bit table kernel
 * (cim_sigmoid16.h), Q0.15 out. */
#include <stdint.h>

#include "cim_gemmlowp.h"
#include "cim_kernel.h"
#include "cim_sigmoid16.h"

int cim_check_tanh(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, const cim_tensor_t *output) {
    if (n_inputs != 1 || op->n_params != CIM_OP_TANH_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    const int wide = in->dtype == CIMG_DTYPE_INT16 && output->dtype == CIMG_DTYPE_INT16;
    if (!wide && (in->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8)) return CIM_E_UNSUPPORTED;
    if (in->rank != output->rank) return CIM_E_SHAPE;
    for (int d = 0; d < 4; ++d)
        if (in->dims[d] != output->dims[d]) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    if (wide)
        return p[CIM_P_TANH_IN_ZP] == 0 && p[CIM_P_TANH_INPUT_RANGE_RADIUS] == 0 && p[CIM_P_TANH_INPUT_MULT] >= 0 &&
                       p[CIM_P_TANH_INPUT_MULT] <= 32767 && p[CIM_P_TANH_INPUT_LEFT_SHIFT] >= 0 &&
                       p[CIM_P_TANH_INPUT_LEFT_SHIFT] <= 31
                   ? CIM_OK
                   : CIM_E_PARAM;
    if (p[CIM_P_TANH_IN_ZP] < -128 || p[CIM_P_TANH_IN_ZP] > 127 || p[CIM_P_TANH_INPUT_RANGE_RADIUS] < 0 ||
        p[CIM_P_TANH_INPUT_MULT] < 0 || p[CIM_P_TANH_INPUT_LEFT_SHIFT] < -31 || p[CIM_P_TANH_INPUT_LEFT_SHIFT] > 30)
        return CIM_E_PARAM;
    return CIM_OK;
}

int cim_kernel_tanh(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_TANH_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->dtype == CIMG_DTYPE_INT16 && output->dtype == CIMG_DTYPE_INT16) {
        if (in->nbytes != output->nbytes) return CIM_E_SHAPE;
        const int16_t *x = (const int16_t *)in->data;
        int16_t *y = (int16_t *)output->data;
        for (uint32_t i = 0; i < in->nbytes / 2u; ++i)
            y[i] = cim_tanh16(x[i], op->params[CIM_P_TANH_INPUT_MULT], op->params[CIM_P_TANH_INPUT_LEFT_SHIFT]);
        return CIM_OK;
    }
    if (in->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8) return CIM_E_UNSUPPORTED;
    if (in->nbytes != output->nbytes) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int32_t zp = p[CIM_P_TANH_IN_ZP], radius = p[CIM_P_TANH_INPUT_RANGE_RADIUS];
    const int32_t m = p[CIM_P_TANH_INPUT_MULT], ls = p[CIM_P_TANH_INPUT_LEFT_SHIFT];
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)output->data;
    for (uint32_t i = 0; i < in->nbytes; ++i) {
        const int32_t v = x[i] - zp;
        if (v <= -radius) {
            y[i] = INT8_MIN;
        } else if (v >= radius) {
            y[i] = INT8_MAX;
        } else {
            const int32_t q0 = cim_gl_tanh(cim_mbqm(v, m, ls), 4);
            y[i] = (int8_t)cim_clamp(cim_rdbpot(q0, 31 - 7), INT8_MIN, INT8_MAX);
        }
    }
    return CIM_OK;
}
