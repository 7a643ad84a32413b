/* PAD int8 or int16 with constant paddings (TFLM reference_ops::Pad), 4-D right-aligned; int8 rows of the
 * last dimension are filled with memset/memcpy. */
#include <stdint.h>
#include <string.h>

#include "cim_kernel.h"

/* int16 (TFLM's 16x8 mode), element by element. */
static int pad16(const cim_tensor_t *in, cim_tensor_t *output, const int32_t before[4], const int32_t after[4],
                 int16_t pad) {
    (void)after;
    const int32_t *od = output->dims, *id = in->dims;
    const int16_t *x = (const int16_t *)in->data;
    int16_t *y = (int16_t *)output->data;
    for (int32_t o0 = 0; o0 < od[0]; ++o0)
        for (int32_t o1 = 0; o1 < od[1]; ++o1)
            for (int32_t o2 = 0; o2 < od[2]; ++o2) {
                const int32_t i0 = o0 - before[0], i1 = o1 - before[1], i2 = o2 - before[2];
                const int inside = i0 >= 0 && i0 < id[0] && i1 >= 0 && i1 < id[1] && i2 >= 0 && i2 < id[2];
                const int16_t *row = inside ? x + ((i0 * id[1] + i1) * id[2] + i2) * id[3] : 0;
                for (int32_t o3 = 0; o3 < od[3]; ++o3) {
                    const int32_t i3 = o3 - before[3];
                    *y++ = inside && i3 >= 0 && i3 < id[3] ? row[i3] : pad;
                }
            }
    return CIM_OK;
}

int cim_kernel_pad(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_PAD_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->dtype != output->dtype || (in->dtype != CIMG_DTYPE_INT8 && in->dtype != CIMG_DTYPE_INT16))
        return CIM_E_UNSUPPORTED;
    const int32_t *p = op->params;
    int32_t before[4], after[4];
    for (int d = 0; d < 4; ++d) {
        before[d] = p[CIM_P_PAD_BEFORE0 + d];
        after[d] = p[CIM_P_PAD_AFTER0 + d];
        if (before[d] < 0 || after[d] < 0 || in->dims[d] + before[d] + after[d] != output->dims[d])
            return CIM_E_SHAPE;
    }
    if (in->dtype == CIMG_DTYPE_INT16) return pad16(in, output, before, after, (int16_t)p[CIM_P_PAD_PAD_VALUE]);
    const int8_t pad = (int8_t)p[CIM_P_PAD_PAD_VALUE];
    const int32_t *od = output->dims, *id = in->dims;
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)output->data;
    for (int32_t o0 = 0; o0 < od[0]; ++o0)
        for (int32_t o1 = 0; o1 < od[1]; ++o1)
            for (int32_t o2 = 0; o2 < od[2]; ++o2) {
                const int32_t i0 = o0 - before[0], i1 = o1 - before[1], i2 = o2 - before[2];
                if (i0 < 0 || i0 >= id[0] || i1 < 0 || i1 >= id[1] || i2 < 0 || i2 >= id[2]) {
                    memset(y, pad, (size_t)od[3]);
                } else {
                    memset(y, pad, (size_t)before[3]);
                    memcpy(y + before[3], x + ((i0 * id[1] + i1) * id[2] + i2) * id[3], (size_t)id[3]);
                    memset(y + before[3] + id[3], pad, (size_t)after[3]);
                }
                y += od[3];
            }
    return CIM_OK;
}
