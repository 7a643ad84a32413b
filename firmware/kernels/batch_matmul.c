/* BATCH_MATMUL int8 (TFLM reference_ops::BatchMatMul<int8_t, int32_t>): per output element the int32 sum over the
 * depth of (lhs - lhs_zp) * (rhs - rhs_zp), rescaled by the multiplier, plus out_zp, saturated; the two leading
 * (batch) dimensions of the 4-D views broadcast; adj_x / adj_y read an operand transposed. int16 (16x8:
 * BatchMatMul<int16_t, int64_t>, zero points 0): the sum in 64 bits and TFLM's 64-bit requantization. */
#include <stdint.h>

#include "cim_gemmlowp.h"
#include "cim_kernel.h"

typedef struct {
    int32_t rows, cols, depth;
} mm_dims_t;

/* rows x depth of lhs and depth x cols of rhs in their 4-D views; nonzero when they do not give the output */
static int dims_of(const cim_op_t *op, const cim_tensor_t *a, const cim_tensor_t *b, const cim_tensor_t *y,
                   mm_dims_t *m) {
    const int adj_x = op->params[CIM_P_BATCH_MATMUL_ADJ_X], adj_y = op->params[CIM_P_BATCH_MATMUL_ADJ_Y];
    if (a->rank < 2 || b->rank < 2 || y->rank < 2) return 1;
    m->rows = adj_x ? a->dims[3] : a->dims[2];
    m->depth = adj_x ? a->dims[2] : a->dims[3];
    m->cols = adj_y ? b->dims[2] : b->dims[3];
    if ((adj_y ? b->dims[3] : b->dims[2]) != m->depth || y->dims[2] != m->rows || y->dims[3] != m->cols) return 1;
    for (int d = 0; d < 2; ++d) {
        const int32_t da = a->dims[d], db = b->dims[d], dy = y->dims[d];
        if ((da != 1 && da != dy) || (db != 1 && db != dy) || (da != dy && db != dy)) return 1;
    }
    return 0;
}

int cim_check_batch_matmul(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                           const cim_tensor_t *output) {
    mm_dims_t m;
    if (n_inputs != 2 || op->n_params != CIM_OP_BATCH_MATMUL_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *a = inputs[0], *b = inputs[1];
    const int width = cim_width_8_16(a->dtype, output->dtype);
    if (!width || b->dtype != a->dtype) return CIM_E_UNSUPPORTED;
    const int32_t *p = op->params;
    for (int i = CIM_P_BATCH_MATMUL_LHS_ZP; i <= CIM_P_BATCH_MATMUL_OUT_ZP; ++i)
        if (width == 2 ? p[i] != 0 : (p[i] < -128 || p[i] > 127)) return CIM_E_PARAM;
    if ((p[CIM_P_BATCH_MATMUL_ADJ_X] & ~1) || (p[CIM_P_BATCH_MATMUL_ADJ_Y] & ~1) || p[CIM_P_BATCH_MATMUL_MULT] < 0 ||
        p[CIM_P_BATCH_MATMUL_SHIFT] < -31 || p[CIM_P_BATCH_MATMUL_SHIFT] > (width == 2 ? 7 : 30))
        return CIM_E_PARAM;
    return dims_of(op, a, b, output, &m) || m.depth > 32767 ? CIM_E_SHAPE : CIM_OK;
}

/* Every output element in order: `acc` (of type ACC) is the depth sum of elements of type T; STORE writes it. */
#define MATMUL_LOOPS(T, ACC, STORE)                                                                           \
    for (int32_t i0 = 0; i0 < output->dims[0]; ++i0)                                                          \
        for (int32_t i1 = 0; i1 < output->dims[1]; ++i1) {                                                    \
            const int32_t ba = (a->dims[0] > 1 ? i0 : 0) * a->dims[1] + (a->dims[1] > 1 ? i1 : 0);            \
            const int32_t bb = (b->dims[0] > 1 ? i0 : 0) * b->dims[1] + (b->dims[1] > 1 ? i1 : 0);            \
            const T *ma = (const T *)a->data + ba * mat_a, *mb = (const T *)b->data + bb * mat_b;             \
            for (int32_t r = 0; r < m.rows; ++r)                                                              \
                for (int32_t c = 0; c < m.cols; ++c) {                                                        \
                    ACC acc = 0;                                                                              \
                    for (int32_t k = 0; k < m.depth; ++k)                                                     \
                        acc += (ACC)(ma[r * a_row + k * a_dep] - lzp) * (ACC)(mb[k * b_dep + c * b_col] - rzp); \
                    STORE;                                                                                    \
                }                                                                                             \
        }

int cim_kernel_batch_matmul(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                            cim_tensor_t *output) {
    mm_dims_t m;
    if (n_inputs != 2 || op->n_params < CIM_OP_BATCH_MATMUL_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *a = inputs[0], *b = inputs[1];
    if (dims_of(op, a, b, output, &m)) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const int adj_x = p[CIM_P_BATCH_MATMUL_ADJ_X], adj_y = p[CIM_P_BATCH_MATMUL_ADJ_Y];
    const int32_t lzp = p[CIM_P_BATCH_MATMUL_LHS_ZP], rzp = p[CIM_P_BATCH_MATMUL_RHS_ZP];
    const int32_t ozp = p[CIM_P_BATCH_MATMUL_OUT_ZP], mult = p[CIM_P_BATCH_MATMUL_MULT];
    const int32_t shift = p[CIM_P_BATCH_MATMUL_SHIFT];
    /* element strides of row / depth / col within one matrix of each operand */
    const int32_t a_row = adj_x ? 1 : m.depth, a_dep = adj_x ? m.rows : 1;
    const int32_t b_dep = adj_y ? 1 : m.cols, b_col = adj_y ? m.depth : 1;
    const int32_t mat_a = m.rows * m.depth, mat_b = m.depth * m.cols;
    const int width = cim_width_8_16(a->dtype, output->dtype);
    if (!width || b->dtype != a->dtype) return CIM_E_UNSUPPORTED;
    if (width == 2) {
        int16_t *y = (int16_t *)output->data;
        MATMUL_LOOPS(int16_t, int64_t, {
            const int64_t v = cim_mbqm64(acc, mult, shift) + ozp;
            *y++ = (int16_t)(v < INT16_MIN ? INT16_MIN : (v > INT16_MAX ? INT16_MAX : v));
        });
    } else {
        int8_t *y = (int8_t *)output->data;
        MATMUL_LOOPS(int8_t, int32_t, { *y++ = (int8_t)cim_clamp(cim_mbqm(acc, mult, shift) + ozp, -128, 127); });
    }
    return CIM_OK;
}
