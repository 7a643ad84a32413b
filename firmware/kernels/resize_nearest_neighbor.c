/* RESIZE_NEAREST_NEIGHBOR int8 or int16 (TFLM reference_ops::ResizeNearestNeighbor): each output pixel copies the depth
 * run of the input pixel GetNearestNeighbor picks per axis, with TFLM's float32 scale and product (soft float
 * on an FPU-less core, IEEE-exact); the rounding of a non-negative product is done in double, exactly. */
#include <stdint.h>
#include <string.h>

#include "cim_kernel.h"
#include "cim_resize.h"

static int32_t source_index(int32_t out_index, int32_t in_size, int32_t out_size, int align, int half) {
    const float scale = (align && out_size > 1) ? (float)(in_size - 1) / (float)(out_size - 1)
                                                : (float)in_size / (float)out_size;
    const float p = ((float)out_index + (half ? 0.5f : 0.0f)) * scale; /* >= 0 */
    int32_t i = align ? (int32_t)((double)p + 0.5) : (int32_t)p;       /* round half up / floor, p >= 0 */
    if (i > in_size - 1) i = in_size - 1;
    if (half && i < 0) i = 0;
    return i;
}

int cim_check_resize_nearest_neighbor(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                                      const cim_tensor_t *output) {
    if (n_inputs != 1 || op->n_params != CIM_OP_RESIZE_NEAREST_NEIGHBOR_NPARAMS) return CIM_E_PARAM;
    return cim_resize_fits(op, inputs[0], output, 1) ? CIM_OK : CIM_E_SHAPE;
}

int cim_kernel_resize_nearest_neighbor(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                                       cim_tensor_t *output) {
    if (n_inputs != 1 || op->n_params < CIM_OP_RESIZE_NEAREST_NEIGHBOR_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *x = inputs[0];
    if (!cim_resize_fits(op, x, output, 1)) return CIM_E_SHAPE;
    const size_t es = (size_t)cim_width_8_16(x->dtype, output->dtype); /* element bytes */
    const int align = op->params[CIM_P_RESIZE_NEAREST_NEIGHBOR_ALIGN_CORNERS];
    const int half = op->params[CIM_P_RESIZE_NEAREST_NEIGHBOR_HALF_PIXEL_CENTERS];
    const int32_t n = output->dims[0], oh = output->dims[1], ow = output->dims[2], d = output->dims[3];
    const int32_t ih = x->dims[1], iw = x->dims[2];
    const int8_t *in = (const int8_t *)x->data;
    int8_t *y = (int8_t *)output->data;
    for (int32_t b = 0; b < n; ++b)
        for (int32_t h = 0; h < oh; ++h) {
            const int32_t sh = source_index(h, ih, oh, align, half);
            for (int32_t w = 0; w < ow; ++w) {
                const int32_t sw = source_index(w, iw, ow, align, half);
                memcpy(y, in + (size_t)((b * ih + sh) * iw + sw) * d * es, (size_t)d * es);
                y += (size_t)d * es;
            }
        }
    return CIM_OK;
}
