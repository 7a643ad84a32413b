/* 4-D broadcasting strides for the elementwise kernels (TFLM NdArrayDesc for 4-D shapes). */
#ifndef CIM_BCAST_H
#define CIM_BCAST_H

#include <stdint.h>

#include "cim_kernel.h"

/* Element strides of `t` when broadcast to `out`; returns nonzero when shapes are incompatible. */
static inline int cim_bcast_strides(const cim_tensor_t *t, const cim_tensor_t *out, int32_t s[4]) {
    int32_t stride = 1;
    for (int d = 3; d >= 0; --d) {
        if (t->dims[d] == out->dims[d]) s[d] = stride;
        else if (t->dims[d] == 1) s[d] = 0;
        else return 1;
        stride *= t->dims[d];
    }
    return 0;
}

/* Load-time shape check of a two-input broadcasting op: `out` has the larger rank, both inputs
 * broadcast to it, and each output dim comes from an input. CIM_OK or CIM_E_SHAPE. */
static inline int cim_bcast_check_binary(const cim_tensor_t *a, const cim_tensor_t *b, const cim_tensor_t *out) {
    int32_t s[4];
    if (out->rank != (a->rank > b->rank ? a->rank : b->rank) || cim_bcast_strides(a, out, s) ||
        cim_bcast_strides(b, out, s))
        return CIM_E_SHAPE;
    for (int d = 0; d < 4; ++d)
        if (out->dims[d] != (a->dims[d] > b->dims[d] ? a->dims[d] : b->dims[d])) return CIM_E_SHAPE;
    return CIM_OK;
}

#endif /* CIM_BCAST_H */
