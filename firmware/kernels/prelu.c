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
    const int8_t *xd = (const int8_t *)x->data, *ad = (const int8_t *)a->data;
    int8_t *y = (int8_t *)output->data;
    const int32_t *d = output->dims;
    for (int32_t i0 = 0; i0 < d[0]; ++i0)
        for (int32_t i1 = 0; i1 < d[1]; ++i1)
            for (int32_t i2 = 0; i2 < d[2]; ++i2) {
                const int8_t *rx = xd + i0 * sx[0] + i1 * sx[1] + i2 * sx[2];
                const int8_t *ra = ad + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
                for (int32_t i3 = 0; i3 < d[3]; ++i3) {
                    const int32_t v = rx[i3 * sx[3]] - in_zp;
                    const int32_t r = v >= 0 ? cim_mbqm(v, mi, si) : cim_mbqm(v * (ra[i3 * sa[3]] - alpha_zp), ma, sha);
                    *y++ = (int8_t)cim_clamp(out_zp + r, -128, 127);
                }
            }
    return CIM_OK;
}
