/* GATHER int8 (TFLM's reference Gather): for each outer index and each index j, the `inner` bytes of input
 * slice indices[j] along the axis. Indices are a constant int32 tensor, checked at load. */
#include <stdint.h>
#include <string.h>

#include "cim_kernel.h"

/* outer, axis and inner extents of the input around the gathered axis; nonzero when the op does not fit */
static int layout(const cim_op_t *op, const cim_tensor_t *x, const cim_tensor_t *idx, const cim_tensor_t *out,
                  uint32_t *outer, uint32_t *axis_size, uint32_t *inner) {
    const int32_t axis = op->params[CIM_P_GATHER_AXIS];
    if (axis < 1 || axis >= (int32_t)x->rank || idx->dtype != CIMG_DTYPE_INT32 || x->dtype != CIMG_DTYPE_INT8 ||
        out->dtype != CIMG_DTYPE_INT8)
        return 1;
    const int a4 = axis + 4 - (int)x->rank;
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < a4; ++d) *outer *= (uint32_t)x->dims[d];
    for (int d = a4 + 1; d < 4; ++d) *inner *= (uint32_t)x->dims[d];
    *axis_size = (uint32_t)x->dims[a4];
    return out->nbytes != *outer * (idx->nbytes / 4u) * *inner;
}

int cim_check_gather(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                     const cim_tensor_t *output) {
    uint32_t outer, axis_size, inner;
    if (n_inputs != 2 || op->n_params != CIM_OP_GATHER_NPARAMS) return CIM_E_PARAM;
    if (layout(op, inputs[0], inputs[1], output, &outer, &axis_size, &inner)) return CIM_E_SHAPE;
    const int32_t *ind = (const int32_t *)inputs[1]->data;
    for (uint32_t j = 0; j < inputs[1]->nbytes / 4u; ++j)
        if (ind[j] < 0 || (uint32_t)ind[j] >= axis_size) return CIM_E_PARAM;
    return CIM_OK;
}

int cim_kernel_gather(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    uint32_t outer, axis_size, inner;
    if (n_inputs < 2 || op->n_params < CIM_OP_GATHER_NPARAMS) return CIM_E_PARAM;
    if (layout(op, inputs[0], inputs[1], output, &outer, &axis_size, &inner)) return CIM_E_SHAPE;
    const int8_t *x = (const int8_t *)inputs[0]->data;
    const int32_t *ind = (const int32_t *)inputs[1]->data;
    const uint32_t n = inputs[1]->nbytes / 4u;
    int8_t *y = (int8_t *)output->data;
    for (uint32_t o = 0; o < outer; ++o)
        for (uint32_t j = 0; j < n; ++j) {
            if (ind[j] < 0 || (uint32_t)ind[j] >= axis_size) return CIM_E_PARAM;
            memcpy(y, x + (o * axis_size + (uint32_t)ind[j]) * inner, inner);
            y += inner;
        }
    return CIM_OK;
}
