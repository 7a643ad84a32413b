/* LEAKY_RELU int8 or int16 (TFLM reference_ops::QuantizeLeakyRelu): (x - in_zp) rescaled by the identity multiplier
 * when >= 0, by the alpha multiplier otherwise, plus out_zp, saturated to the type. */
#include <stdint.h>

#include "cim_gemmlowp.h"
#include "cim_kernel.h"

static int requant_ok(int32_t mult, int32_t shift) { return mult >= 0 && shift >= -31 && shift <= 30; }

int cim_check_leaky_relu(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                         const cim_tensor_t *output) {
    if (n_inputs != 1 || op->n_params != CIM_OP_LEAKY_RELU_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    const int width = cim_width_8_16(in->dtype, output->dtype);
    if (!width) return CIM_E_UNSUPPORTED;
    if (in->rank != output->rank) return CIM_E_SHAPE;
    for (int d = 0; d < 4; ++d)
        if (in->dims[d] != output->dims[d]) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int32_t top = width == 2 ? INT16_MAX : INT8_MAX;
    if (p[CIM_P_LEAKY_RELU_IN_ZP] < -top - 1 || p[CIM_P_LEAKY_RELU_IN_ZP] > top ||
        p[CIM_P_LEAKY_RELU_OUT_ZP] < -top - 1 || p[CIM_P_LEAKY_RELU_OUT_ZP] > top ||
        !requant_ok(p[CIM_P_LEAKY_RELU_ALPHA_MULT], p[CIM_P_LEAKY_RELU_ALPHA_SHIFT]) ||
        !requant_ok(p[CIM_P_LEAKY_RELU_IDENTITY_MULT], p[CIM_P_LEAKY_RELU_IDENTITY_SHIFT]))
        return CIM_E_PARAM;
    return CIM_OK;
}

int cim_kernel_leaky_relu(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                          cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_LEAKY_RELU_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    const int width = cim_width_8_16(in->dtype, output->dtype);
    if (!width) return CIM_E_UNSUPPORTED;
    if (in->nbytes != output->nbytes) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int32_t in_zp = p[CIM_P_LEAKY_RELU_IN_ZP], out_zp = p[CIM_P_LEAKY_RELU_OUT_ZP];
    const int32_t ma = p[CIM_P_LEAKY_RELU_ALPHA_MULT], sa = p[CIM_P_LEAKY_RELU_ALPHA_SHIFT];
    const int32_t mi = p[CIM_P_LEAKY_RELU_IDENTITY_MULT], si = p[CIM_P_LEAKY_RELU_IDENTITY_SHIFT];
    const uint32_t n = in->nbytes / (uint32_t)width;
    const int32_t top = width == 2 ? INT16_MAX : INT8_MAX;
    for (uint32_t i = 0; i < n; ++i) {
        const int32_t v = (width == 2 ? ((const int16_t *)in->data)[i] : ((const int8_t *)in->data)[i]) - in_zp;
        const int32_t r = cim_clamp(out_zp + (v >= 0 ? cim_mbqm(v, mi, si) : cim_mbqm(v, ma, sa)), -top - 1, top);
        if (width == 2)
            ((int16_t *)output->data)[i] = (int16_t)r;
        else
            ((int8_t *)output->data)[i] = (int8_t)r;
    }
    return CIM_OK;
}
