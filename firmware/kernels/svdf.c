/* SVDF's CPU part: TFLM's integer SVDF, int8 input and output, int8 or int16 state and time weights.
 *
 * The feature filter ran just before as a FULLY_CONNECTED on the CiM macro and left each filter's newest
 * value, clamped to the state's type (int8 or int16) with zero point 0, in inputs[0]. Here, per invocation
 * (one frame): every filter's memory of n_memory values moves left by one; the newest value plus the state's
 * zero point is stored in the state's type (it wraps, as TFLM's store does) in the last slot; each filter's
 * memory, zero point removed, dot its time weights; the rank filters of a unit summed with the bias;
 * requantized, plus the output zero point, clamped to int8 (TFLM's integer SVDF applies no fused activation).
 *
 * inputs[1] is the state tensor: it lives in the arena across invocations (the runtime sets it at load
 * and at a state reset), and this kernel updates it in place. Mirrors sdk/golden/kernels/svdf.py. */
#include <stddef.h>
#include <stdint.h>

#include "cim_gemmlowp.h"
#include "cim_kernel.h"

/* One filter's step, one body for int8_t and int16_t state: its memory moves left by one slot while the
 * moved values, zero point removed, are multiplied by the time weights (one pass over the memory, no separate
 * memmove); the newest value plus the zero point goes into the last slot (a store of T: it wraps, as TFLM's
 * does) and joins the sum. The sum is taken unsigned so that an int32 overflow (possible with int16 state)
 * wraps as TFLM's int32 sum does, without UB. */
#define SVDF_FILTER_STEP(SUFFIX, T)                                                                          \
    static uint32_t svdf_step_##SUFFIX(T *mem, int32_t newest, const T *w, int32_t state_zp, uint32_t n) {   \
        uint32_t sum = 0u;                                                                                   \
        for (uint32_t m = 0; m + 1u < n; ++m) {                                                              \
            const T v = mem[m + 1u];                                                                         \
            mem[m] = v;                                                                                      \
            sum += (uint32_t)((int32_t)w[m] * ((int32_t)v - state_zp));                                      \
        }                                                                                                    \
        const T last = (T)(uint32_t)(newest + state_zp);                                                     \
        mem[n - 1u] = last;                                                                                  \
        return sum + (uint32_t)((int32_t)w[n - 1u] * ((int32_t)last - state_zp));                            \
    }

SVDF_FILTER_STEP(i8, int8_t)
SVDF_FILTER_STEP(i16, int16_t)

int cim_kernel_svdf(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    if (n_inputs < 3 || op->n_params < CIM_OP_SVDF_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *feature = inputs[0], *state = inputs[1], *time = inputs[2];
    const cim_tensor_t *bias = n_inputs > 3 ? inputs[3] : NULL;
    const uint8_t t = time->dtype;
    if ((t != CIMG_DTYPE_INT8 && t != CIMG_DTYPE_INT16) || feature->dtype != t || state->dtype != t ||
        output->dtype != CIMG_DTYPE_INT8 || (bias != NULL && bias->dtype != CIMG_DTYPE_INT32))
        return CIM_E_UNSUPPORTED;
    const uint32_t esize = t == CIMG_DTYPE_INT16 ? 2u : 1u;
    const int32_t *p = op->params;
    const int32_t rank = p[CIM_P_SVDF_RANK], state_zp = p[CIM_P_SVDF_STATE_ZP], out_zp = p[CIM_P_SVDF_OUT_ZP];
    const int32_t mult = p[CIM_P_SVDF_MULT], shift = p[CIM_P_SVDF_SHIFT];
    const uint32_t n_filter = (uint32_t)time->dims[2], n_memory = (uint32_t)time->dims[3];
    if (rank < 1 || n_filter % (uint32_t)rank != 0) return CIM_E_PARAM;
    const uint32_t n_unit = n_filter / (uint32_t)rank;
    if (feature->nbytes != esize * n_filter || state->nbytes != esize * n_filter * n_memory ||
        output->nbytes != n_unit || (bias != NULL && bias->nbytes != 4u * n_unit))
        return CIM_E_SHAPE;

    const int wide = t == CIMG_DTYPE_INT16;
    const int32_t *b = bias != NULL ? (const int32_t *)bias->data : NULL;
    int8_t *y = (int8_t *)output->data;
    for (uint32_t u = 0; u < n_unit; ++u) {
        uint32_t acc = b != NULL ? (uint32_t)b[u] : 0u;
        for (uint32_t f = u * (uint32_t)rank; f < (u + 1u) * (uint32_t)rank; ++f) {
            const uint32_t at = f * n_memory;
            acc += wide ? svdf_step_i16((int16_t *)state->data + at, ((const int16_t *)feature->data)[f],
                                        (const int16_t *)time->data + at, state_zp, n_memory)
                        : svdf_step_i8((int8_t *)state->data + at, ((const int8_t *)feature->data)[f],
                                       (const int8_t *)time->data + at, state_zp, n_memory);
        }
        y[u] = (int8_t)cim_clamp(cim_mbqm((int32_t)acc, mult, shift) + out_zp, INT8_MIN, INT8_MAX);
    }
    return CIM_OK;
}
