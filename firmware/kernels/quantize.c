/* QUANTIZE inside the graph (TFLM reference_ops::Requantize): int8 -> int8, and int16 -> int8, int16 or
 * int32 (an int16 model input, an int16 softmax output widened to int32). */
#include <stdint.h>

#include "cim_gemmlowp.h"
#include "cim_kernel.h"

static int64_t requant(int32_t x, const int32_t *p) {
    return (int64_t)cim_mbqm(x - p[CIM_P_QUANTIZE_IN_ZP], p[CIM_P_QUANTIZE_MULT], p[CIM_P_QUANTIZE_SHIFT]) +
           p[CIM_P_QUANTIZE_OUT_ZP];
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

int cim_kernel_quantize(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                        cim_tensor_t *output) {
    if (n_inputs < 1 || op->n_params < CIM_OP_QUANTIZE_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *in = inputs[0];
    const int32_t *p = op->params;
    if (in->dtype == CIMG_DTYPE_INT8 && output->dtype == CIMG_DTYPE_INT8) {
        if (in->nbytes != output->nbytes) return CIM_E_SHAPE;
        const int8_t *x = (const int8_t *)in->data;
        int8_t *y = (int8_t *)output->data;
        for (uint32_t i = 0; i < in->nbytes; ++i) y[i] = (int8_t)clamp64(requant(x[i], p), INT8_MIN, INT8_MAX);
        return CIM_OK;
    }
    if (in->dtype != CIMG_DTYPE_INT16) return CIM_E_UNSUPPORTED;
    const uint32_t n = in->nbytes / 2u;
    const int16_t *x = (const int16_t *)in->data;
    switch (output->dtype) {
    case CIMG_DTYPE_INT8: {
        if (output->nbytes != n) return CIM_E_SHAPE;
        int8_t *y = (int8_t *)output->data;
        for (uint32_t i = 0; i < n; ++i) y[i] = (int8_t)clamp64(requant(x[i], p), INT8_MIN, INT8_MAX);
        return CIM_OK;
    }
    case CIMG_DTYPE_INT16: {
        if (output->nbytes != 2u * n) return CIM_E_SHAPE;
        int16_t *y = (int16_t *)output->data;
        for (uint32_t i = 0; i < n; ++i) y[i] = (int16_t)clamp64(requant(x[i], p), INT16_MIN, INT16_MAX);
        return CIM_OK;
    }
    case CIMG_DTYPE_INT32: {
        if (output->nbytes != 4u * n) return CIM_E_SHAPE;
        int32_t *y = (int32_t *)output->data;
        for (uint32_t i = 0; i < n; ++i) y[i] = (int32_t)clamp64(requant(x[i], p), INT32_MIN, INT32_MAX);
        return CIM_OK;
    }
    default:
        return CIM_E_UNSUPPORTED;
    }
}
