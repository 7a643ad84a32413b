/* AVERAGE_POOL_2D int8 or int16 (16x8) (TFLM reference_integer_ops::AveragePool): sum over the window's valid
 * taps, divided by their count rounding half away from zero, clamped to the activation range. One loop nest
 * for both element types (AVERAGE_POOL_BODY). */
#include <stdint.h>
#include <string.h>

#include "cim_kernel.h"
#include "cim_pool.h"

/* The pooled output in order; `return CIM_E_SHAPE` leaves the kernel on an empty window. */
#define AVERAGE_POOL_BODY(T)                                                                          \
    do {                                                                                              \
        const T *x = (const T *)in->data;                                                             \
        T *y = (T *)output->data;                                                                     \
        CIM_POOL_FOR_EACH_WINDOW(T,                                                                   \
            const int32_t count = (fy1 - fy0) * (fx1 - fx0);                                         \
            if (fy1 <= fy0 || fx1 <= fx0) return CIM_E_SHAPE; /* TFLM fails on an empty window */     \
            for (int32_t ch = 0; ch < c; ++ch) {                                                      \
                int32_t acc = 0;                                                                      \
                for (int32_t fy = fy0; fy < fy1; ++fy) {                                              \
                    const T *row = x + ((b * h + iy0 + fy) * w + ix0) * c + ch;                       \
                    for (int32_t fx = fx0; fx < fx1; ++fx) acc += row[fx * c];                        \
                }                                                                                     \
                acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;                \
                if (acc < lo) acc = lo;                                                               \
                if (acc > hi) acc = hi;                                                               \
                yo[ch] = (T)acc;                                                                      \
            })                                                                                        \
    } while (0)

/* float32 (a float model on a floating-point target; TFLM's float AveragePool): the valid taps added in
 * (fy, fx) order from 0, divided by their count, clamped to the float32 bounds act_min / act_max hold. */
static int average_pool_float(const int32_t *p, const cim_tensor_t *in, cim_tensor_t *output) {
    const int32_t fh = p[CIM_P_AVERAGE_POOL_2D_FILTER_H], fw = p[CIM_P_AVERAGE_POOL_2D_FILTER_W];
    const int32_t sh = p[CIM_P_AVERAGE_POOL_2D_STRIDE_H], sw = p[CIM_P_AVERAGE_POOL_2D_STRIDE_W];
    const int32_t pt = p[CIM_P_AVERAGE_POOL_2D_PAD_TOP], pl = p[CIM_P_AVERAGE_POOL_2D_PAD_LEFT];
    float lo, hi;
    memcpy(&lo, &p[CIM_P_AVERAGE_POOL_2D_ACT_MIN], sizeof lo);
    memcpy(&hi, &p[CIM_P_AVERAGE_POOL_2D_ACT_MAX], sizeof hi);
    const int32_t nb = in->dims[0], h = in->dims[1], w = in->dims[2], c = in->dims[3];
    const int32_t oh = output->dims[1], ow = output->dims[2];
    if (output->dims[3] != c || output->dims[0] != nb) return CIM_E_SHAPE;
    const float *x = (const float *)in->data;
    float *y = (float *)output->data;
    CIM_POOL_FOR_EACH_WINDOW(float,
        if (fy1 <= fy0 || fx1 <= fx0) return CIM_E_SHAPE;
        const float count = (float)((fy1 - fy0) * (fx1 - fx0));
        for (int32_t ch = 0; ch < c; ++ch) {
            float total = 0.0f;
            for (int32_t fy = fy0; fy < fy1; ++fy) {
                const float *row = x + ((b * h + iy0 + fy) * w + ix0) * c + ch;
                for (int32_t fx = fx0; fx < fx1; ++fx) total += row[fx * c];
            }
            float v = total / count;
            v = v < lo ? lo : v;
            yo[ch] = v > hi ? hi : v;
        })
    return CIM_OK;
}

int cim_kernel_average_pool_2d(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                               cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_AVERAGE_POOL_2D_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->dtype == CIMG_DTYPE_FLOAT32 && output->dtype == CIMG_DTYPE_FLOAT32)
        return average_pool_float(op->params, in, output);
    const int width = cim_width_8_16(in->dtype, output->dtype);
    if (!width) return CIM_E_UNSUPPORTED;
    const int32_t *p = op->params;
    const int32_t fh = p[CIM_P_AVERAGE_POOL_2D_FILTER_H], fw = p[CIM_P_AVERAGE_POOL_2D_FILTER_W];
    const int32_t sh = p[CIM_P_AVERAGE_POOL_2D_STRIDE_H], sw = p[CIM_P_AVERAGE_POOL_2D_STRIDE_W];
    const int32_t pt = p[CIM_P_AVERAGE_POOL_2D_PAD_TOP], pl = p[CIM_P_AVERAGE_POOL_2D_PAD_LEFT];
    const int32_t lo = p[CIM_P_AVERAGE_POOL_2D_ACT_MIN], hi = p[CIM_P_AVERAGE_POOL_2D_ACT_MAX];
    const int32_t nb = in->dims[0], h = in->dims[1], w = in->dims[2], c = in->dims[3];
    const int32_t oh = output->dims[1], ow = output->dims[2];
    if (output->dims[3] != c || output->dims[0] != nb) return CIM_E_SHAPE;
    if (width == 2)
        AVERAGE_POOL_BODY(int16_t);
    else
        AVERAGE_POOL_BODY(int8_t);
    return CIM_OK;
}
