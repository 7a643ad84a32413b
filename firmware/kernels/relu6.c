/* RELU6 int8 or int16 (TFLM Relu6Quantized): the raw input clamped to [zero, six] (codes of the input's
 * quantization, which the output shares); no rescaling. */
#include <stdint.h>

#include "cim_kernel.h"

int cim_check_relu6(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, const cim_tensor_t *output) {
    if (n_inputs != 1 || op->n_params != CIM_OP_RELU6_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    const int width = cim_width_8_16(in->dtype, output->dtype);
    if (!width) return CIM_E_UNSUPPORTED;
    if (in->rank != output->rank) return CIM_E_SHAPE;
    for (int d = 0; d < 4; ++d)
        if (in->dims[d] != output->dims[d]) return CIM_E_SHAPE;
    const int32_t zero = op->params[CIM_P_RELU6_ZERO], six = op->params[CIM_P_RELU6_SIX];
    const int32_t top = width == 2 ? INT16_MAX : INT8_MAX;
    return zero >= -top - 1 && zero <= top && six >= -top - 1 && six <= top ? CIM_OK : CIM_E_PARAM;
}

int cim_kernel_relu6(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_RELU6_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    const int width = cim_width_8_16(in->dtype, output->dtype);
    if (!width) return CIM_E_UNSUPPORTED;
    if (in->nbytes != output->nbytes) return CIM_E_SHAPE;
    const int32_t zero = op->params[CIM_P_RELU6_ZERO], six = op->params[CIM_P_RELU6_SIX];
    const uint32_t n = in->nbytes / (uint32_t)width;
    if (width == 2) {
        const int16_t *x = (const int16_t *)in->data;
        int16_t *y = (int16_t *)output->data;
        for (uint32_t i = 0; i < n; ++i) y[i] = (int16_t)(x[i] > six ? six : (x[i] < zero ? zero : x[i]));
    } else {
        const int8_t *x = (const int8_t *)in->data;
        int8_t *y = (int8_t *)output->data;
        for (uint32_t i = 0; i < n; ++i) y[i] = (int8_t)(x[i] > six ? six : (x[i] < zero ? zero : x[i]));
    }
    return CIM_OK;
}
