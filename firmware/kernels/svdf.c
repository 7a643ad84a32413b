/* SVDF's CPU part: TFLM's integer SVDF with int8 state and int8 time weights.
 *
 * The feature filter ran just before as a FULLY_CONNECTED on the CiM macro and left each filter's newest
 * value, clamped to int8 with zero point 0, in inputs[0]. Here, per invocation (one frame): every filter's
 * memory of n_memory values moves left by one; the newest value plus the state's zero point is stored as
 * int8 (it wraps, as TFLM's store does) in the last slot; each filter's memory, zero point removed, dot its
 * time weights; the rank filters of a unit summed with the bias; requantized, plus the output zero point,
 * clamped to int8 (TFLM's integer SVDF applies no fused activation).
 *
 * inputs[1] is the state tensor: it lives in the arena across invocations (the runtime sets it at load
 * and at a state reset), and this kernel updates it in place. Mirrors sdk/golden/kernels/svdf.py. */
#include <stdint.h>
#include <string.h>

#include "cim_gemmlowp.h"
#include "cim_kernel.h"

int cim_kernel_svdf(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    if (n_inputs < 3 || op->n_params < CIM_OP_SVDF_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *feature = inputs[0], *state = inputs[1], *time = inputs[2];
    const cim_tensor_t *bias = n_inputs > 3 ? inputs[3] : NULL;
    if (feature->dtype != CIMG_DTYPE_INT8 || state->dtype != CIMG_DTYPE_INT8 || time->dtype != CIMG_DTYPE_INT8 ||
        output->dtype != CIMG_DTYPE_INT8 || (bias != NULL && bias->dtype != CIMG_DTYPE_INT32))
        return CIM_E_UNSUPPORTED;
    const int32_t *p = op->params;
    const int32_t rank = p[CIM_P_SVDF_RANK], state_zp = p[CIM_P_SVDF_STATE_ZP], out_zp = p[CIM_P_SVDF_OUT_ZP];
    const int32_t mult = p[CIM_P_SVDF_MULT], shift = p[CIM_P_SVDF_SHIFT];
    const uint32_t n_filter = (uint32_t)time->dims[2], n_memory = (uint32_t)time->dims[3];
    if (rank < 1 || n_filter % (uint32_t)rank != 0) return CIM_E_PARAM;
    const uint32_t n_unit = n_filter / (uint32_t)rank;
    if (feature->nbytes != n_filter || state->nbytes != n_filter * n_memory || output->nbytes != n_unit ||
        (bias != NULL && bias->nbytes != 4u * n_unit))
        return CIM_E_SHAPE;

    int8_t *mem = (int8_t *)state->data;
    const int8_t *newest = (const int8_t *)feature->data, *w = (const int8_t *)time->data;
    memmove(mem, mem + 1, n_filter * n_memory - 1u); /* the last slot of each filter is written next */
    for (uint32_t f = 0; f < n_filter; ++f)
        mem[f * n_memory + n_memory - 1u] = (int8_t)(uint8_t)(uint32_t)(newest[f] + state_zp);

    const int32_t *b = bias != NULL ? (const int32_t *)bias->data : NULL;
    int8_t *y = (int8_t *)output->data;
    for (uint32_t u = 0; u < n_unit; ++u) {
        /* int32 sums as TFLM's; accumulated unsigned so a (never seen) overflow wraps instead of being UB */
        uint32_t acc = b != NULL ? (uint32_t)b[u] : 0u;
        for (uint32_t f = u * (uint32_t)rank; f < (u + 1u) * (uint32_t)rank; ++f) {
            const int8_t *wf = w + f * n_memory, *mf = mem + f * n_memory;
            for (uint32_t m = 0; m < n_memory; ++m) acc += (uint32_t)((int32_t)wf[m] * ((int32_t)mf[m] - state_zp));
        }
        y[u] = (int8_t)cim_clamp(cim_mbqm((int32_t)acc, mult, shift) + out_zp, INT8_MIN, INT8_MAX);
    }
    return CIM_OK;
}
