/* RESHAPE: the same bytes under another shape (a no-op when the planner aliased the buffers). */
#include <stdint.h>
#include <string.h>

#include "cim_kernel.h"

int cim_kernel_reshape(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                       cim_tensor_t *output) {
    (void)op;
    if (n_inputs < 1) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->nbytes != output->nbytes) return CIM_E_SHAPE;
    if (in->data != output->data) memmove(output->data, in->data, in->nbytes);
    return CIM_OK;
}
