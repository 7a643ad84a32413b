/* MAXIMUM and MINIMUM int8 or int16 (TFLM reference_ops::MaximumMinimumBroadcastSlow): raw values compared,
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
    if (!cim_width_8_16(a->dtype, output->dtype) || b->dtype != a->dtype) return CIM_E_UNSUPPORTED;
    return cim_bcast_check_binary(a, b, output);
}

/* want_max: 1 keeps the larger value, 0 the smaller. */
static inline int cim_minmax_run(const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output,
                                 int want_max) {
    if (n_inputs < 2) return CIM_E_PARAM;
    const cim_tensor_t *a = inputs[0], *b = inputs[1];
    const int width = cim_width_8_16(a->dtype, output->dtype);
    if (!width || b->dtype != a->dtype) return CIM_E_UNSUPPORTED;
    int32_t sa[4], sb[4];
    if (cim_bcast_strides(a, output, sa) || cim_bcast_strides(b, output, sb)) return CIM_E_SHAPE;
    if (width == 2)
        CIM_BCAST_FOR_EACH2_T(int16_t, output, a, sa, b, sb, y, v1, v2, {
            *y++ = (int16_t)((v1 > v2) == want_max ? v1 : v2);
        });
    else
        CIM_BCAST_FOR_EACH2(output, a, sa, b, sb, y, v1, v2, {
            *y++ = (int8_t)((v1 > v2) == want_max ? v1 : v2);
        });
    return CIM_OK;
}

#endif
