/* PRELU int8 (TFLM reference_ops::BroadcastPrelu4DSlow): (x - in_zp) rescaled by the identity multiplier when
 * >= 0, else (x - in_zp) * (alpha - alpha_zp) by the alpha multiplier; plus out_zp, saturated to int8; alpha
 * (input 1) broadcast against the input over 4-D. */
#include <stdint.h>

#include "cim_bcast.h"
#include "cim_gemmlowp.h"
#include "cim_kernel.h"

static int requant_ok(int32_t mult, int32_t shift) { return mult >= 0 && shift >= -31 && shift <= 30; }
static int zp_ok(int32_t zp) { return zp >= -128 && zp <= 127; }

int cim_check_prelu(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                    const cim_tensor_t *output) {
    if (n_inputs != 2 || op->n_params != CIM_OP_PRELU_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *x = inputs[0], *a = inputs[1];
    if (x->dtype != CIMG_DTYPE_INT8 || a->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8)
        return CIM_E_UNSUPPORTED;
    const int32_t *p = op->params;
    if (!zp_ok(p[CIM_P_PRELU_IN_ZP]) || !zp_ok(p[CIM_P_PRELU_ALPHA_ZP]) || !zp_ok(p[CIM_P_PRELU_OUT_ZP]) ||
        !requant_ok(p[CIM_P_PRELU_IDENTITY_MULT], p[CIM_P_PRELU_IDENTITY_SHIFT]) ||
        !requant_ok(p[CIM_P_PRELU_ALPHA_MULT], p[CIM_P_PRELU_ALPHA_SHIFT]))
        return CIM_E_PARAM;
    return cim_bcast_check_binary(x, a, output);
}

int cim_kernel_prelu(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    if (n_inputs < 2 || op->n_params < CIM_OP_PRELU_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *x = inputs[0], *a = inputs[1];
    if (x->dtype != CIMG_DTYPE_INT8 || a->dtype != CIMG_DTYPE_INT8 || output->dtype != CIMG_DTYPE_INT8)
        return CIM_E_UNSUPPORTED;
    int32_t sx[4], sa[4];
    if (cim_bcast_strides(x, output, sx) || cim_bcast_strides(a, output, sa)) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int32_t in_zp = p[CIM_P_PRELU_IN_ZP], alpha_zp = p[CIM_P_PRELU_ALPHA_ZP], out_zp = p[CIM_P_PRELU_OUT_ZP];
    const int32_t mi = p[CIM_P_PRELU_IDENTITY_MULT], si = p[CIM_P_PRELU_IDENTITY_SHIFT];
    const int32_t ma = p[CIM_P_PRELU_ALPHA_MULT], sha = p[CIM_P_PRELU_ALPHA_SHIFT];
    CIM_BCAST_FOR_EACH2(output, x, sx, a, sa, y, xv, av, {
        const int32_t v = xv - in_zp;
        const int32_t r = v >= 0 ? cim_mbqm(v, mi, si) : cim_mbqm(v * (av - alpha_zp), ma, sha);
        *y++ = (int8_t)cim_clamp(out_zp + r, -128, 127);
    });
    return CIM_OK;
}
