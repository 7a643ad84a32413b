/* CONCATENATION int8 or int16 (TFLM reference_ops::Concatenation): copies, no requantization. */
#include <stdint.h>
#include <string.h>

#include "cim_kernel.h"

int cim_kernel_concatenation(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                             cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_CONCATENATION_NPARAMS) return CIM_E_PARAM;
    const int32_t axis = op->params[CIM_P_CONCATENATION_AXIS] + 4 - (int32_t)output->rank;
    if (axis < 0 || axis > 3) return CIM_E_PARAM;
    int32_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= output->dims[d];
    for (int d = axis + 1; d < 4; ++d) inner *= output->dims[d];
    int32_t total = 0;
    for (int i = 0; i < n_inputs; ++i) {
        if (inputs[i]->dtype != output->dtype) return CIM_E_UNSUPPORTED;
        total += inputs[i]->dims[axis];
    }
    if (total != output->dims[axis]) return CIM_E_SHAPE;
    if (output->dtype != CIMG_DTYPE_INT8 && output->dtype != CIMG_DTYPE_INT16) return CIM_E_UNSUPPORTED;
    const size_t es = output->dtype == CIMG_DTYPE_INT16 ? 2u : 1u; /* element bytes */
    int8_t *y = (int8_t *)output->data;
    for (int32_t o = 0; o < outer; ++o)
        for (int i = 0; i < n_inputs; ++i) {
            const size_t n = (size_t)(inputs[i]->dims[axis] * inner) * es;
            memcpy(y, (const int8_t *)inputs[i]->data + (size_t)o * n, n);
            y += n;
        }
    return CIM_OK;
}
