/* ADD int8 or int16 (16x8): the sum of the two rescaled inputs (cim_addsub.h). */
#include "cim_addsub.h"

int cim_kernel_add(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    return cim_addsub_run(op, inputs, n_inputs, output, 0);
}
