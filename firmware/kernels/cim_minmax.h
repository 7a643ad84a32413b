/* MAXIMUM and MINIMUM int8 (TFLM reference_ops::MaximumMinimumBroadcastSlow): raw values compared,
 * 4-D broadcasting, no requantization. One body for both kernels; each kernel file names its op. */
#ifndef CIM_MINMAX_H
#define CIM_MINMAX_H

#include <stdint.h>

#include "cim_bcast.h"
#include "cim_kernel.h"

static inline int cim_minmax_check(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                                   const cim_tensor_t *output, int n_params) {
    if (n_inputs != 2 || op->n_params != n_params) return CIM_E_PARAM;
    const cim_tensor_t *a = inputs[0], *b = inputs[1];
    if (a->dtype != CIMG_DTYPE_INT8 || b->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8)
        return CIM_E_UNSUPPORTED;
    return cim_bcast_check_binary(a, b, output);
}

/* want_max: 1 keeps the larger value, 0 the smaller. */
static inline int cim_minmax_run(const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output,
                                 int want_max) {
    if (n_inputs < 2) return CIM_E_PARAM;
    const cim_tensor_t *a = inputs[0], *b = inputs[1];
    if (a->dtype != CIMG_DTYPE_INT8 || b->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8)
        return CIM_E_UNSUPPORTED;
    int32_t sa[4], sb[4];
    if (cim_bcast_strides(a, output, sa) || cim_bcast_strides(b, output, sb)) return CIM_E_SHAPE;
    const int8_t *x1 = (const int8_t *)a->data, *x2 = (const int8_t *)b->data;
    int8_t *y = (int8_t *)output->data;
    const int32_t *d = output->dims;
    for (int32_t i0 = 0; i0 < d[0]; ++i0)
        for (int32_t i1 = 0; i1 < d[1]; ++i1)
            for (int32_t i2 = 0; i2 < d[2]; ++i2) {
                const int8_t *r1 = x1 + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
                const int8_t *r2 = x2 + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
                for (int32_t i3 = 0; i3 < d[3]; ++i3) {
                    const int8_t v1 = r1[i3 * sa[3]], v2 = r2[i3 * sb[3]];
                    *y++ = (v1 > v2) == want_max ? v1 : v2;
                }
            }
    return CIM_OK;
}

#endif
