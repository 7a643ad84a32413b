/* STRIDED_SLICE int8 or int16 (TFLM reference_ops::StridedSlice) on 4-D right-aligned shapes: per axis `count`
 * elements from `start` by `step` (masks, negative indices and shrunk axes resolved at convert time). SPLIT,
 * SPLIT_V and UNPACK run as one record of it per output. */
#include <stdint.h>

#include "cim_kernel.h"

static const int32_t *start_of(const cim_op_t *op) { return &op->params[CIM_P_STRIDED_SLICE_START0]; }
static const int32_t *step_of(const cim_op_t *op) { return &op->params[CIM_P_STRIDED_SLICE_STEP0]; }
static const int32_t *count_of(const cim_op_t *op) { return &op->params[CIM_P_STRIDED_SLICE_COUNT0]; }

static int fits(const cim_op_t *op, const cim_tensor_t *in, const cim_tensor_t *out) {
    const int32_t *start = start_of(op), *step = step_of(op), *count = count_of(op);
    uint64_t total = 1;
    for (int d = 0; d < 4; ++d) {
        if (count[d] < 1 || step[d] == 0 || start[d] < 0 || start[d] >= in->dims[d]) return 0;
        const int64_t last = (int64_t)start[d] + (int64_t)(count[d] - 1) * step[d];
        if (last < 0 || last >= in->dims[d]) return 0;
        total *= (uint32_t)count[d];
    }
    return total * (out->dtype == CIMG_DTYPE_INT16 ? 2u : 1u) == out->nbytes;
}

/* int8 or int16 in and out, the same */
static int dtype_ok(const cim_tensor_t *in, const cim_tensor_t *out) {
    return in->dtype == out->dtype && (in->dtype == CIMG_DTYPE_INT8 || in->dtype == CIMG_DTYPE_INT16);
}

int cim_check_strided_slice(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                            const cim_tensor_t *output) {
    if (n_inputs != 1 || op->n_params != CIM_OP_STRIDED_SLICE_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (!dtype_ok(in, output)) return CIM_E_UNSUPPORTED;
    if (!fits(op, in, output)) return CIM_E_SHAPE;
    const int lead = 4 - (int)in->rank;
    for (int d = 0; d <= lead && d < 4; ++d) /* padding axes and the batch are whole */
        if (start_of(op)[d] != 0 || step_of(op)[d] != 1 || count_of(op)[d] != in->dims[d]) return CIM_E_PARAM;
    return CIM_OK;
}

int cim_kernel_strided_slice(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                             cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_STRIDED_SLICE_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (!dtype_ok(in, output)) return CIM_E_UNSUPPORTED;
    if (!fits(op, in, output)) return CIM_E_SHAPE;
    const int32_t *start = start_of(op), *step = step_of(op), *count = count_of(op), *id = in->dims;
    const int32_t stride[4] = {id[1] * id[2] * id[3], id[2] * id[3], id[3], 1};
#define STRIDED_SLICE_BODY(T)                                                                                 \
    do {                                                                                                      \
        const T *x = (const T *)in->data;                                                                     \
        T *y = (T *)output->data;                                                                             \
        for (int32_t o0 = 0; o0 < count[0]; ++o0)                                                             \
            for (int32_t o1 = 0; o1 < count[1]; ++o1)                                                         \
                for (int32_t o2 = 0; o2 < count[2]; ++o2) {                                                   \
                    const T *r = x + (start[0] + o0 * step[0]) * stride[0] + (start[1] + o1 * step[1]) * stride[1] + \
                                 (start[2] + o2 * step[2]) * stride[2] + start[3];                            \
                    for (int32_t o3 = 0; o3 < count[3]; ++o3) *y++ = r[o3 * step[3]];                         \
                }                                                                                             \
    } while (0)
    if (in->dtype == CIMG_DTYPE_INT16)
        STRIDED_SLICE_BODY(int16_t);
    else
        STRIDED_SLICE_BODY(int8_t);
#undef STRIDED_SLICE_BODY
    return CIM_OK;
}
