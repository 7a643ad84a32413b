/* RESIZE_BILINEAR int8 (TFLM reference_ops::ResizeBilinearInteger): source positions on a 10-bit fixed-point
 * grid (ComputeInterpolationValuesInteger), the four neighbours weighted in int64, the 20-bit sum rounded half
 * away from zero and truncated to int8 as TFLM's cast does. */
#include <stdint.h>

#include "cim_kernel.h"
#include "cim_resize.h"

#define ONE 1024

typedef struct {
    int32_t scale;
    int half;
    int32_t in_size;
} grid_t;

static grid_t make_grid(int32_t in_size, int32_t out_size, int align, int half) {
    grid_t g = {((ONE * in_size) + out_size / 2) / out_size, half, in_size};
    if (align && out_size > 1) g.scale = (ONE * (in_size - 1) + (out_size - 1) / 2) / (out_size - 1);
    return g;
}

/* the scaled source position (C division toward zero, as TFLM) and its lower and upper neighbour */
static int32_t locate(const grid_t *g, int32_t i, int32_t *lo, int32_t *hi) {
    const int32_t v = g->half ? i * g->scale + g->scale / 2 - (1 << 9) : i * g->scale;
    *lo = v / ONE > 0 ? v / ONE : 0;
    *hi = (v + ONE - 1) / ONE < g->in_size - 1 ? (v + ONE - 1) / ONE : g->in_size - 1;
    return v;
}

int cim_check_resize_bilinear(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                              const cim_tensor_t *output) {
    if (n_inputs != 1 || op->n_params != CIM_OP_RESIZE_BILINEAR_NPARAMS) return CIM_E_PARAM;
    return cim_resize_fits(op, inputs[0], output, 0) ? CIM_OK : CIM_E_SHAPE;
}

int cim_kernel_resize_bilinear(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                               cim_tensor_t *output) {
    if (n_inputs != 1 || op->n_params < CIM_OP_RESIZE_BILINEAR_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *x = inputs[0];
    if (!cim_resize_fits(op, x, output, 0)) return CIM_E_SHAPE;
    const int align = op->params[CIM_P_RESIZE_BILINEAR_ALIGN_CORNERS];
    const int half = op->params[CIM_P_RESIZE_BILINEAR_HALF_PIXEL_CENTERS];
    const int32_t n = output->dims[0], oh = output->dims[1], ow = output->dims[2], d = output->dims[3];
    const int32_t ih = x->dims[1], iw = x->dims[2];
    const grid_t gy = make_grid(ih, oh, align, half), gx = make_grid(iw, ow, align, half);
    const int8_t *in = (const int8_t *)x->data;
    int8_t *out = (int8_t *)output->data;
    for (int32_t b = 0; b < n; ++b)
        for (int32_t h = 0; h < oh; ++h) {
            int32_t y0, y1;
            const int64_t fy = locate(&gy, h, &y0, &y1) - ONE * y0; /* weight of row y1, 10 bits */
            for (int32_t w = 0; w < ow; ++w) {
                int32_t x0, x1;
                const int64_t fx = locate(&gx, w, &x0, &x1) - ONE * x0;
                const int8_t *p00 = in + ((b * ih + y0) * iw + x0) * d, *p10 = in + ((b * ih + y1) * iw + x0) * d;
                const int8_t *p01 = in + ((b * ih + y0) * iw + x1) * d, *p11 = in + ((b * ih + y1) * iw + x1) * d;
                for (int32_t c = 0; c < d; ++c) {
                    const int64_t acc = p00[c] * (ONE - fy) * (ONE - fx) + p10[c] * fy * (ONE - fx) +
                                        p01[c] * (ONE - fy) * fx + p11[c] * fy * fx;
                    const int64_t round = acc > 0 ? (1 << 19) : -(1 << 19);
                    *out++ = (int8_t)((acc + round) / (1 << 20));
                }
            }
        }
    return CIM_OK;
}
