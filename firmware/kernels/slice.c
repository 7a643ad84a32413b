/* SLICE int8 or int16 (TFLM reference_ops::Slice) on 4-D right-aligned shapes: the output's extent of the input
 * from begin; rows of the last dimension are copied with memcpy. */
#include <stdint.h>
#include <string.h>

#include "cim_kernel.h"

int cim_check_slice(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, const cim_tensor_t *output) {
    if (n_inputs != 1 || op->n_params != CIM_OP_SLICE_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->dtype != output->dtype || (in->dtype != CIMG_DTYPE_INT8 && in->dtype != CIMG_DTYPE_INT16))
        return CIM_E_UNSUPPORTED;
    if (in->rank != output->rank) return CIM_E_SHAPE;
    const int lead = 4 - (int)in->rank;
    for (int d = 0; d < 4; ++d) {
        const int32_t b = op->params[CIM_P_SLICE_BEGIN0 + d];
        if (b < 0 || b > in->dims[d] - output->dims[d] || (d <= lead && b != 0)) return CIM_E_PARAM;
    }
    return lead < 4 && output->dims[lead] == in->dims[lead] ? CIM_OK : CIM_E_SHAPE;
}

int cim_kernel_slice(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_SLICE_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->dtype != output->dtype || (in->dtype != CIMG_DTYPE_INT8 && in->dtype != CIMG_DTYPE_INT16))
        return CIM_E_UNSUPPORTED;
    const size_t es = in->dtype == CIMG_DTYPE_INT16 ? 2u : 1u; /* element bytes */
    const int32_t *b = &op->params[CIM_P_SLICE_BEGIN0], *id = in->dims, *od = output->dims;
    for (int d = 0; d < 4; ++d)
        if (b[d] < 0 || b[d] + od[d] > id[d]) return CIM_E_SHAPE;
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)output->data;
    for (int32_t o0 = 0; o0 < od[0]; ++o0)
        for (int32_t o1 = 0; o1 < od[1]; ++o1)
            for (int32_t o2 = 0; o2 < od[2]; ++o2) {
                const int32_t row = (((o0 + b[0]) * id[1] + o1 + b[1]) * id[2] + o2 + b[2]) * id[3] + b[3];
                memcpy(y, x + (size_t)row * es, (size_t)od[3] * es);
                y += (size_t)od[3] * es;
            }
    return CIM_OK;
}
