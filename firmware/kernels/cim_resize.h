/* RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR: one record layout (align_corners, half_pixel_centers) and one
 * shape check for both; each kernel file keeps its own source-position rule. */
#ifndef CIM_RESIZE_H
#define CIM_RESIZE_H

#include <stdint.h>

#include "cim_kernel.h"

_Static_assert(CIM_P_RESIZE_NEAREST_NEIGHBOR_ALIGN_CORNERS == CIM_P_RESIZE_BILINEAR_ALIGN_CORNERS &&
                   CIM_P_RESIZE_NEAREST_NEIGHBOR_HALF_PIXEL_CENTERS == CIM_P_RESIZE_BILINEAR_HALF_PIXEL_CENTERS,
               "the two resize records share one parameter layout");

/* 4-D int8 (or, with `int16`, int8 or int16) images of one batch and depth, flags 0/1 and not both set (TFLite has no such resize) */
static inline int cim_resize_fits(const cim_op_t *op, const cim_tensor_t *x, const cim_tensor_t *y, int int16) {
    const int32_t align = op->params[CIM_P_RESIZE_BILINEAR_ALIGN_CORNERS];
    const int32_t half = op->params[CIM_P_RESIZE_BILINEAR_HALF_PIXEL_CENTERS];
    return x->rank == 4 && y->rank == 4 && (int16 ? cim_width_8_16(x->dtype, y->dtype) != 0 : x->dtype == CIMG_DTYPE_INT8 && y->dtype == CIMG_DTYPE_INT8) &&
           x->dims[0] == y->dims[0] && x->dims[3] == y->dims[3] && (align == 0 || align == 1) &&
           (half == 0 || half == 1) && align + half < 2;
}

#endif
