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

/* The output of a two-input broadcasting op in order: for each element, BODY runs with the int8 values
 * `v1` (of a, strides sa) and `v2` (of b, strides sb) and writes through `y`, which walks `out`'s data.
 * A macro, not a callback: it is the inner loop of ADD, SUB, MUL, MINIMUM, MAXIMUM and PRELU. */
#define CIM_BCAST_FOR_EACH2(out, a, sa, b, sb, y, v1, v2, BODY) \
    CIM_BCAST_FOR_EACH2_T(int8_t, out, a, sa, b, sb, y, v1, v2, BODY)

/* The same over elements of type T (int16_t: the 16x8 ADD). */
#define CIM_BCAST_FOR_EACH2_T(T, out, a, sa, b, sb, y, v1, v2, BODY)                                   \
    do {                                                                                             \
        const T *x1_ = (const T *)(a)->data, *x2_ = (const T *)(b)->data;                            \
        T *y = (T *)(out)->data;                                                                     \
        const int32_t *d_ = (out)->dims;                                                             \
        for (int32_t i0_ = 0; i0_ < d_[0]; ++i0_)                                                    \
            for (int32_t i1_ = 0; i1_ < d_[1]; ++i1_)                                                \
                for (int32_t i2_ = 0; i2_ < d_[2]; ++i2_) {                                          \
                    const T *r1_ = x1_ + i0_ * (sa)[0] + i1_ * (sa)[1] + i2_ * (sa)[2];              \
                    const T *r2_ = x2_ + i0_ * (sb)[0] + i1_ * (sb)[1] + i2_ * (sb)[2];              \
                    for (int32_t i3_ = 0; i3_ < d_[3]; ++i3_) {                                      \
                        const int32_t v1 = r1_[i3_ * (sa)[3]], v2 = r2_[i3_ * (sb)[3]];              \
                        BODY;                                                                        \
                    }                                                                                \
                }                                                                                    \
    } while (0)

#endif /* CIM_BCAST_H */
