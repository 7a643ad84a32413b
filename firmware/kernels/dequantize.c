/* DEQUANTIZE at the output edge: the device passes the int8 values on; the host converts to float. */
#include <stdint.h>
#include <string.h>

#include "cim_kernel.h"

int cim_kernel_dequantize(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                          cim_tensor_t *output) {
    (void)op;
    if (n_inputs < 1) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->dtype != CIMG_DTYPE_INT8) return CIM_E_UNSUPPORTED;
    if (output->nbytes < in->nbytes) return CIM_E_SHAPE;
    if (in->data != output->data) memmove(output->data, in->data, in->nbytes);
    return CIM_OK;
}
