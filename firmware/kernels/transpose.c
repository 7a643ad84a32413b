/* TRANSPOSE int8 or int16 (TFLM reference_ops::Transpose) on 4-D right-aligned shapes: output axis k walks input
 * axis perm[k]. Elements move unchanged (TFLM does not requantize). */
#include <stdint.h>

#include "cim_kernel.h"

static int perm_of(const cim_op_t *op, int32_t perm[4]) {
    int seen = 0;
    for (int k = 0; k < 4; ++k) {
        perm[k] = op->params[CIM_P_TRANSPOSE_PERM0 + k];
        if (perm[k] < 0 || perm[k] > 3 || (seen & (1 << perm[k]))) return -1;
        seen |= 1 << perm[k];
    }
    return 0;
}

int cim_check_transpose(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                        const cim_tensor_t *output) {
    int32_t perm[4];
    if (n_inputs != 1 || op->n_params != CIM_OP_TRANSPOSE_NPARAMS || perm_of(op, perm)) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (!cim_width_8_16(in->dtype, output->dtype)) return CIM_E_UNSUPPORTED;
    const int lead = 4 - (int)in->rank;
    if (output->rank != in->rank) return CIM_E_SHAPE;
    for (int k = 0; k <= lead && k < 4; ++k)  /* padding axes and the batch stay in place */
        if (perm[k] != k) return CIM_E_PARAM;
    for (int k = 0; k < 4; ++k)
        if (output->dims[k] != in->dims[perm[k]]) return CIM_E_SHAPE;
    return CIM_OK;
}

/* The output in order, each element read at its permuted input position. */
#define TRANSPOSE_BODY(T)                                                                \
    do {                                                                                 \
        const T *x = (const T *)in->data;                                                \
        T *y = (T *)output->data;                                                        \
        for (int32_t o0 = 0; o0 < od[0]; ++o0)                                           \
            for (int32_t o1 = 0; o1 < od[1]; ++o1)                                       \
                for (int32_t o2 = 0; o2 < od[2]; ++o2) {                                 \
                    const T *r = x + o0 * s[0] + o1 * s[1] + o2 * s[2];                  \
                    for (int32_t o3 = 0; o3 < od[3]; ++o3) *y++ = r[o3 * s[3]];          \
                }                                                                        \
    } while (0)

int cim_kernel_transpose(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                         cim_tensor_t *output) {
    int32_t perm[4];
    if (n_inputs < 1 || op->n_params < CIM_OP_TRANSPOSE_NPARAMS || perm_of(op, perm)) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    const int width = cim_width_8_16(in->dtype, output->dtype);
    if (!width) return CIM_E_UNSUPPORTED;
    const int32_t *id = in->dims, *od = output->dims;
    const int32_t in_stride[4] = {id[1] * id[2] * id[3], id[2] * id[3], id[3], 1};
    int32_t s[4];
    for (int k = 0; k < 4; ++k) {
        if (od[k] != id[perm[k]]) return CIM_E_SHAPE;
        s[k] = in_stride[perm[k]];
    }
    if (width == 2)
        TRANSPOSE_BODY(int16_t);
    else
        TRANSPOSE_BODY(int8_t);
    return CIM_OK;
}
