/* RELU int8 or int16 (TFLM ReluQuantized): (x - in_zp) requantized to the output, plus out_zp, clamped to
 * [act_min, act_max] (act_min is the output zero point). */
#include <stdint.h>

#include "cim_gemmlowp.h"
#include "cim_kernel.h"

static int same_shape(const cim_tensor_t *a, const cim_tensor_t *b) {
    for (int d = 0; d < 4; ++d)
        if (a->dims[d] != b->dims[d]) return 0;
    return a->rank == b->rank;
}

int cim_check_relu(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, const cim_tensor_t *output) {
    if (n_inputs != 1 || op->n_params != CIM_OP_RELU_NPARAMS) return CIM_E_PARAM;
    const int width = cim_width_8_16(inputs[0]->dtype, output->dtype);
    if (!width) return CIM_E_UNSUPPORTED;
    if (!same_shape(inputs[0], output)) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int32_t lo = p[CIM_P_RELU_ACT_MIN], hi = p[CIM_P_RELU_ACT_MAX];
    const int32_t top = width == 2 ? INT16_MAX : INT8_MAX, bottom = -top - 1;
    if (p[CIM_P_RELU_IN_ZP] < bottom || p[CIM_P_RELU_IN_ZP] > top || p[CIM_P_RELU_OUT_ZP] < bottom ||
        p[CIM_P_RELU_OUT_ZP] > top || p[CIM_P_RELU_MULT] < 0 || p[CIM_P_RELU_SHIFT] < -31 ||
        p[CIM_P_RELU_SHIFT] > 30 || lo < bottom || hi > top || lo > hi)
        return CIM_E_PARAM;
    return CIM_OK;
}

int cim_kernel_relu(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_RELU_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    const int width = cim_width_8_16(in->dtype, output->dtype);
    if (!width) return CIM_E_UNSUPPORTED;
    if (in->nbytes != output->nbytes) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int32_t in_zp = p[CIM_P_RELU_IN_ZP], out_zp = p[CIM_P_RELU_OUT_ZP];
    const int32_t m = p[CIM_P_RELU_MULT], s = p[CIM_P_RELU_SHIFT];
    const int32_t lo = p[CIM_P_RELU_ACT_MIN], hi = p[CIM_P_RELU_ACT_MAX];
    const uint32_t n = in->nbytes / (uint32_t)width;
    if (width == 2) {
        const int16_t *x = (const int16_t *)in->data;
        int16_t *y = (int16_t *)output->data;
        for (uint32_t i = 0; i < n; ++i) y[i] = (int16_t)cim_clamp(out_zp + cim_mbqm(x[i] - in_zp, m, s), lo, hi);
    } else {
        const int8_t *x = (const int8_t *)in->data;
        int8_t *y = (int8_t *)output->data;
        for (uint32_t i = 0; i < n; ++i) y[i] = (int8_t)cim_clamp(out_zp + cim_mbqm(x[i] - in_zp, m, s), lo, hi);
    }
    return CIM_OK;
}
