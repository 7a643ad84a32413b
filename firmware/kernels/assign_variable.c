/* ASSIGN_VARIABLE: a streaming model's new state, copied into its state tensor (which the runtime keeps in
 * the arena between invocations and resets to its zero point), through a 256-entry int8 table (input 1)
 * when the value is quantized otherwise than the state. Last in the program: every read of the state in
 * this invocation has seen the previous value. Mirrors sdk/golden/kernels/assign_variable.py. */
#include <stdint.h>
#include <string.h>

#include "cim_kernel.h"

int cim_kernel_assign_variable(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                               cim_tensor_t *output) {
    (void)op;
    if (n_inputs < 1 || n_inputs > 2) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->nbytes != output->nbytes || in->dtype != output->dtype) return CIM_E_SHAPE;
    if (n_inputs == 1) {
        if (in->data != output->data) memmove(output->data, in->data, in->nbytes);
        return CIM_OK;
    }
    if (inputs[1]->nbytes != 256u) return CIM_E_SHAPE;
    const int8_t *table = (const int8_t *)inputs[1]->data;
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)output->data;
    for (uint32_t i = 0; i < in->nbytes; i++) y[i] = table[(int32_t)x[i] + 128];
    return CIM_OK;
}

int cim_check_assign_variable(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                              const cim_tensor_t *output) {
    (void)op;
    if (n_inputs < 1 || n_inputs > 2 || inputs[0]->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8 ||
        inputs[0]->nbytes != output->nbytes)
        return CIM_E_SHAPE;
    if (n_inputs == 2 && (inputs[1]->dtype != CIMG_DTYPE_INT8 || inputs[1]->nbytes != 256u)) return CIM_E_SHAPE;
    return CIM_OK;
}
