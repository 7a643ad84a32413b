/* SPACE_TO_DEPTH int8 (TFLM reference_ops::SpaceToDepth): output[b, h, w, d] is input[b, h * bs + dy,
 * w * bs + dx, d % in_depth] with d / in_depth = dy * bs + dx; one run of in_depth bytes per (dy, dx). */
#include <stdint.h>
#include <string.h>

#include "cim_kernel.h"

static int shapes_fit(const cim_op_t *op, const cim_tensor_t *x, const cim_tensor_t *y) {
    const int32_t bs = op->params[CIM_P_SPACE_TO_DEPTH_BLOCK_SIZE];
    return bs >= 1 && x->rank == 4 && y->rank == 4 && x->dtype == CIMG_DTYPE_INT8 &&
           y->dtype == CIMG_DTYPE_INT8 && y->dims[0] == x->dims[0] && y->dims[1] * bs == x->dims[1] &&
           y->dims[2] * bs == x->dims[2] && y->dims[3] == x->dims[3] * bs * bs;
}

int cim_check_space_to_depth(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                             const cim_tensor_t *output) {
    if (n_inputs != 1 || op->n_params != CIM_OP_SPACE_TO_DEPTH_NPARAMS) return CIM_E_PARAM;
    return shapes_fit(op, inputs[0], output) ? CIM_OK : CIM_E_SHAPE;
}

int cim_kernel_space_to_depth(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                              cim_tensor_t *output) {
    if (n_inputs != 1 || op->n_params < CIM_OP_SPACE_TO_DEPTH_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *x = inputs[0];
    if (!shapes_fit(op, x, output)) return CIM_E_SHAPE;
    const int32_t bs = op->params[CIM_P_SPACE_TO_DEPTH_BLOCK_SIZE];
    const int32_t n = output->dims[0], oh = output->dims[1], ow = output->dims[2];
    const int32_t ih = x->dims[1], iw = x->dims[2], id = x->dims[3];
    const int8_t *in = (const int8_t *)x->data;
    int8_t *y = (int8_t *)output->data;
    for (int32_t b = 0; b < n; ++b)
        for (int32_t h = 0; h < oh; ++h)
            for (int32_t w = 0; w < ow; ++w)
                for (int32_t dy = 0; dy < bs; ++dy)
                    for (int32_t dx = 0; dx < bs; ++dx) {
                        memcpy(y, in + ((b * ih + h * bs + dy) * iw + w * bs + dx) * id, (size_t)id);
                        y += id;
                    }
    return CIM_OK;
}
