/* MINIMUM int8: the smaller raw value of the two inputs (cim_minmax.h). */
#include "cim_minmax.h"

int cim_check_minimum(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, const cim_tensor_t *output) {
    return cim_minmax_check(op, inputs, n_inputs, output, CIM_OP_MINIMUM_NPARAMS);
}

int cim_kernel_minimum(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    (void)op;
    return cim_minmax_run(inputs, n_inputs, output, 0);
}
