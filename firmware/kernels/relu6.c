/* RELU6 int8 (TFLM Relu6Quantized): the raw input clamped to [zero, six] (codes of the input's
 * quantization, which the output shares); no rescaling. */
#include <stdint.h>

#include "cim_kernel.h"

int cim_check_relu6(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, const cim_tensor_t *output) {
    if (n_inputs != 1 || op->n_params != CIM_OP_RELU6_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8) return CIM_E_UNSUPPORTED;
    if (in->rank != output->rank) return CIM_E_SHAPE;
    for (int d = 0; d < 4; ++d)
        if (in->dims[d] != output->dims[d]) return CIM_E_SHAPE;
    const int32_t zero = op->params[CIM_P_RELU6_ZERO], six = op->params[CIM_P_RELU6_SIX];
    return zero >= -128 && zero <= 127 && six >= -128 && six <= 127 ? CIM_OK : CIM_E_PARAM;
}

int cim_kernel_relu6(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_RELU6_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8) return CIM_E_UNSUPPORTED;
    if (in->nbytes != output->nbytes) return CIM_E_SHAPE;
    const int8_t zero = (int8_t)op->params[CIM_P_RELU6_ZERO], six = (int8_t)op->params[CIM_P_RELU6_SIX];
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)output->data;
    for (uint32_t i = 0; i < in->nbytes; ++i) y[i] = x[i] > six ? six : (x[i] < zero ? zero : x[i]);
    return CIM_OK;
}
