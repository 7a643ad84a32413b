/* RELU int8 (TFLM ReluQuantized): (x - in_zp) requantized to the output, plus out_zp, clamped to
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
    if (inputs[0]->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8) return CIM_E_UNSUPPORTED;
    if (!same_shape(inputs[0], output)) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int32_t lo = p[CIM_P_RELU_ACT_MIN], hi = p[CIM_P_RELU_ACT_MAX];
    if (p[CIM_P_RELU_IN_ZP] < -128 || p[CIM_P_RELU_IN_ZP] > 127 || p[CIM_P_RELU_OUT_ZP] < -128 ||
        p[CIM_P_RELU_OUT_ZP] > 127 || p[CIM_P_RELU_MULT] < 0 || p[CIM_P_RELU_SHIFT] < -31 ||
        p[CIM_P_RELU_SHIFT] > 30 || lo < -128 || hi > 127 || lo > hi)
        return CIM_E_PARAM;
    return CIM_OK;
}

int cim_kernel_relu(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_RELU_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8) return CIM_E_UNSUPPORTED;
    if (in->nbytes != output->nbytes) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int32_t in_zp = p[CIM_P_RELU_IN_ZP], out_zp = p[CIM_P_RELU_OUT_ZP];
    const int32_t m = p[CIM_P_RELU_MULT], s = p[CIM_P_RELU_SHIFT];
    const int32_t lo = p[CIM_P_RELU_ACT_MIN], hi = p[CIM_P_RELU_ACT_MAX];
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)output->data;
    for (uint32_t i = 0; i < in->nbytes; ++i) y[i] = (int8_t)cim_clamp(out_zp + cim_mbqm(x[i] - in_zp, m, s), lo, hi);
    return CIM_OK;
}
