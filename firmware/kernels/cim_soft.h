/* The `soft` CiM backend: the macro's matrix-vector product emulated in C on the MCU.
 *
 * What a CiM op computes (sdk/golden/cim_ops.py is the reference): per output column c
 *   acc[c] = bias_folded[c] + sum_k x[k] * W[c][k]        (x raw int8; padding reads in_zp)
 *   out[c] = clamp(MultiplyByQuantizedMultiplier(acc[c], mult[c], shift[c]) + out_zp, act_min, act_max)
 * with the weights stored column-major in the image (each column's K weights contiguous), so every
 * output is one contiguous dot product. The loops compute four columns per pass over the input
 * (one input load feeds four MACs) and need no per-MAC bounds checks. */
#ifndef CIM_SOFT_H
#define CIM_SOFT_H

#include <stdint.h>

#include "cim_kernel.h"
#include "cim_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef CIM_SOFT_PATCH_MAX
/* Bytes of the on-stack im2col patch of a CONV_2D output pixel (kh*kw*cin); convolutions with a
 * larger K run tap by tap without a patch (slower, no extra RAM). */
#define CIM_SOFT_PATCH_MAX 512
#endif

/* Entry point of the HAL's soft backend: run CiM op `op_index` of the loaded image. */
int cim_soft_run_op(uint32_t op_index, const int8_t *in, int8_t *out);

/* The three CiM op kinds (in/out carry the activation pointers). */
int cim_soft_conv(const cim_op_t *op, const cim_matrix_t *m, const cim_tensor_t *in, const cim_tensor_t *out);
int cim_soft_depthwise(const cim_op_t *op, const cim_matrix_t *m, const cim_tensor_t *in,
                       const cim_tensor_t *out);
int cim_soft_fc(const cim_op_t *op, const cim_matrix_t *m, const cim_tensor_t *in, const cim_tensor_t *out);

/* TFLM's 16x8 mode (int16 input and output, zero points 0, 64-bit sums and requantization;
 * cim_soft_wide.c): the three kernels above hand an int16-input op to these. */
int cim_soft_conv_wide(const cim_op_t *op, const cim_matrix_t *m, const cim_tensor_t *in, const cim_tensor_t *out);
int cim_soft_depthwise_wide(const cim_op_t *op, const cim_matrix_t *m, const cim_tensor_t *in,
                            const cim_tensor_t *out);
int cim_soft_fc_wide(const cim_op_t *op, const cim_matrix_t *m, const cim_tensor_t *in, const cim_tensor_t *out);

/* Output stage shared by the kernels. */
typedef struct {
    int32_t out_zp, act_min, act_max;
} cim_soft_act_t;

/* All N columns of matrix m against one K-vector x: out[0..N) (cim_soft.c). */
void cim_soft_matvec(const int8_t *x, const cim_matrix_t *m, const cim_soft_act_t *act, int8_t *out);
/* The same with int16 outputs (a FULLY_CONNECTED writing the LSTM's int16 gate pre-activations). */
void cim_soft_matvec16(const int8_t *x, const cim_matrix_t *m, const cim_soft_act_t *act, int16_t *out);
/* The same for two input vectors at once (two output pixels): each weight load feeds two MACs. */
void cim_soft_matvec2(const int8_t *x, const int8_t *y, const cim_matrix_t *m, const cim_soft_act_t *act,
                      int8_t *out_x, int8_t *out_y);

/* MultiplyByQuantizedMultiplier (TFLM, double rounding), bit-exact with cim_mbqm, inlined into the
 * output loops. SaturatingRoundingDoublingHighMul's truncating division by 2^31 equals
 * (ab + 2^30) >> 31 for every ab except the saturating INT32_MIN * INT32_MIN case, which the loader
 * excludes by rejecting multipliers < 0. */
static inline int32_t cim_soft_mbqm(int32_t x, int32_t mult, int32_t shift) {
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    int32_t a = (int32_t)((uint32_t)x << left);
    int32_t h = (int32_t)(((int64_t)a * mult + (INT64_C(1) << 30)) >> 31);
    if (right == 0) return h;
    int32_t mask = (int32_t)((UINT32_C(1) << right) - 1u);
    int32_t rem = h & mask;
    int32_t thr = (mask >> 1) + (h < 0);
    return (h >> right) + (rem > thr);
}

static inline int32_t cim_soft_out32(int32_t acc, const int32_t *q, const cim_soft_act_t *act) {
    int32_t v = cim_soft_mbqm(acc, q[1], q[2]) + act->out_zp;
    if (v < act->act_min) v = act->act_min;
    if (v > act->act_max) v = act->act_max;
    return v;
}

static inline int8_t cim_soft_out(int32_t acc, const int32_t *q, const cim_soft_act_t *act) {
    return (int8_t)cim_soft_out32(acc, q, act);
}

#ifdef __cplusplus
}
#endif

#endif /* CIM_SOFT_H */
