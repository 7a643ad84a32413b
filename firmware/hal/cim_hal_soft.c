/* Soft backend of the CiM HAL: the macro is emulated in C by the runtime's cim_soft_run_op; the HAL
 * only counts. Nothing to load: the kernels read the weights from the image in place. */
#include "cim_hal.h"

#if defined(CIM_BACKEND_SOFT)

static uint64_t n_ops;

int cim_hal_init(const uint8_t *image, uint32_t size) {
    (void)image;
    (void)size;
    return CIM_HAL_OK;
}

int cim_hal_run_op(uint32_t op_index, const int8_t *in, int8_t *out) {
    if (in == 0 || out == 0) return CIM_HAL_EARG;
    int rc = cim_soft_run_op(op_index, in, out);
    if (rc == 0) n_ops++;
    return rc;
}

void cim_hal_counters(cim_hal_counters_t *c) {
    *c = (cim_hal_counters_t){0};
    c->commands = n_ops;
    c->ops = n_ops;
}

void cim_hal_reset_counters(void) { n_ops = 0; }

const char *cim_hal_backend_name(void) { return "soft"; }

#endif /* CIM_BACKEND_SOFT */
