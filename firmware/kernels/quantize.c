/* QUANTIZE int8 -> int8 (TFLM reference_ops::Requantize). */
#include <stdint.h>

#include "cim_gemmlowp.h"
#include "cim_kernel.h"

int cim_kernel_quantize(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                        cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_QUANTIZE_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    if (in->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8) return CIM_E_UNSUPPORTED;
    if (in->nbytes != output->nbytes) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int32_t in_zp = p[CIM_P_QUANTIZE_IN_ZP], out_zp = p[CIM_P_QUANTIZE_OUT_ZP];
    const int32_t m = p[CIM_P_QUANTIZE_MULT], s = p[CIM_P_QUANTIZE_SHIFT];
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)output->data;
    for (uint32_t i = 0; i < in->nbytes; ++i)
        y[i] = (int8_t)cim_clamp(cim_mbqm(x[i] - in_zp, m, s) + out_zp, INT8_MIN, INT8_MAX);
    return CIM_OK;
}
