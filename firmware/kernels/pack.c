/* PACK int8 or int16 (TFLM reference_ops::Pack): the inputs stacked along a new axis of the output, values
 * unchanged; for each outer index, one run of `inner` elements from each input in turn. */
#include <stdint.h>
#include <string.h>

#include "cim_kernel.h"

/* outer and inner extents around the packed axis of the output; nonzero when the inputs do not fit */
static int layout(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, const cim_tensor_t *out,
                  uint32_t *outer, uint32_t *inner) {
    const int32_t axis = op->params[CIM_P_PACK_AXIS];
    if (axis < 1 || axis >= (int32_t)out->rank || out->rank > 4) return 1;
    const int a4 = axis + 4 - (int)out->rank;
    if (out->dims[a4] != n_inputs) return 1;
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < a4; ++d) *outer *= (uint32_t)out->dims[d];
    for (int d = a4 + 1; d < 4; ++d) *inner *= (uint32_t)out->dims[d];
    for (int i = 0; i < n_inputs; ++i) {
        const cim_tensor_t *x = inputs[i];
        if (x->dtype != out->dtype || x->nbytes != *outer * *inner * (uint32_t)cim_width_8_16(out->dtype, out->dtype) || x->rank + 1u != out->rank) return 1;
        for (int d = 0, k = 1; d < 4; ++d) /* the input's dims are the output's without the packed axis */
            if (d != a4 && x->dims[k++] != out->dims[d]) return 1;
    }
    return 0;
}

int cim_check_pack(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, const cim_tensor_t *output) {
    uint32_t outer, inner;
    if (n_inputs < 1 || op->n_params != CIM_OP_PACK_NPARAMS) return CIM_E_PARAM;
    if (!cim_width_8_16(output->dtype, output->dtype)) return CIM_E_UNSUPPORTED;
    return layout(op, inputs, n_inputs, output, &outer, &inner) ? CIM_E_SHAPE : CIM_OK;
}

int cim_kernel_pack(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    uint32_t outer, inner;
    if (n_inputs < 1 || op->n_params < CIM_OP_PACK_NPARAMS) return CIM_E_PARAM;
    const uint32_t width = (uint32_t)cim_width_8_16(output->dtype, output->dtype);
    if (!width) return CIM_E_UNSUPPORTED;
    if (layout(op, inputs, n_inputs, output, &outer, &inner)) return CIM_E_SHAPE;
    const uint32_t run = inner * width; /* bytes */
    int8_t *y = (int8_t *)output->data;
    for (uint32_t o = 0; o < outer; ++o)
        for (int i = 0; i < n_inputs; ++i) {
            memcpy(y, (const int8_t *)inputs[i]->data + o * run, run);
            y += run;
        }
    return CIM_OK;
}
