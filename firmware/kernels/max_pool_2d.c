/* MAX_POOL_2D int8 or int16 (16x8) (TFLM reference_integer_ops::MaxPool): maximum over the window's valid
 * taps, clamped to the activation range. One loop nest for both element types (MAX_POOL_BODY). */
#include <stdint.h>

#include "cim_kernel.h"
#include "cim_pool.h"

#define MAX_POOL_BODY(T, T_MIN)                                                      \
    do {                                                                             \
        const T *x = (const T *)in->data;                                            \
        T *y = (T *)output->data;                                                    \
        CIM_POOL_FOR_EACH_WINDOW(T, for (int32_t ch = 0; ch < c; ++ch) {             \
            int32_t m = T_MIN;                                                       \
            for (int32_t fy = fy0; fy < fy1; ++fy) {                                 \
                const T *row = x + ((b * h + iy0 + fy) * w + ix0) * c + ch;          \
                for (int32_t fx = fx0; fx < fx1; ++fx)                               \
                    if (row[fx * c] > m) m = row[fx * c];                            \
            }                                                                        \
            if (m < lo) m = lo;                                                      \
            if (m > hi) m = hi;                                                      \
            yo[ch] = (T)m;                                                           \
        })                                                                           \
    } while (0)

int cim_kernel_max_pool_2d(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                           cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_MAX_POOL_2D_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->dtype != output->dtype || (in->dtype != CIMG_DTYPE_INT8 && in->dtype != CIMG_DTYPE_INT16))
        return CIM_E_UNSUPPORTED;
    const int32_t *p = op->params;
    const int32_t fh = p[CIM_P_MAX_POOL_2D_FILTER_H], fw = p[CIM_P_MAX_POOL_2D_FILTER_W];
    const int32_t sh = p[CIM_P_MAX_POOL_2D_STRIDE_H], sw = p[CIM_P_MAX_POOL_2D_STRIDE_W];
    const int32_t pt = p[CIM_P_MAX_POOL_2D_PAD_TOP], pl = p[CIM_P_MAX_POOL_2D_PAD_LEFT];
    const int32_t lo = p[CIM_P_MAX_POOL_2D_ACT_MIN], hi = p[CIM_P_MAX_POOL_2D_ACT_MAX];
    const int32_t nb = in->dims[0], h = in->dims[1], w = in->dims[2], c = in->dims[3];
    const int32_t oh = output->dims[1], ow = output->dims[2];
    if (output->dims[3] != c || output->dims[0] != nb) return CIM_E_SHAPE;
    if (in->dtype == CIMG_DTYPE_INT16)
        MAX_POOL_BODY(int16_t, INT16_MIN);
    else
        MAX_POOL_BODY(int8_t, INT8_MIN);
    return CIM_OK;
}
