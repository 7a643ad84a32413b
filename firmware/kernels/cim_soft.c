/* Soft CiM backend: op lookup and the four-column matrix-vector core shared by the CiM kernels. */
#include "cim_soft.h"

#include <stddef.h>

#include "cim_ops_select.h"

int cim_soft_run_op(uint32_t op_index, const int8_t *in, int8_t *out) {
    cim_op_t op;
    const uint16_t *tids;
    int rc = cim_rt_get_op(op_index, &op, &tids);
    if (rc != 0) return rc;
    cim_tensor_t ti, to;
    cim_matrix_t m;
    if (cim_rt_tensor(tids[0], &ti) != 0 || cim_rt_tensor(tids[op.n_inputs], &to) != 0 ||
        cim_rt_matrix((uint32_t)op.params[0], &m) != 0)
        return CIM_E_PARAM;
    ti.data = (void *)(uintptr_t)in;
    to.data = out;
    if (ti.dtype == CIMG_DTYPE_FLOAT32) return cim_soft_fp(&op, &m, &ti, &to); /* a BF16 macro (sram-fpcim) */
    switch (op.opcode) {
#if CIM_USE_CONV_2D
    case CIM_OP_CONV_2D: return cim_soft_conv(&op, &m, &ti, &to);
#endif
#if CIM_USE_DEPTHWISE_CONV_2D
    case CIM_OP_DEPTHWISE_CONV_2D: return cim_soft_depthwise(&op, &m, &ti, &to);
#endif
#if CIM_USE_FULLY_CONNECTED
    case CIM_OP_FULLY_CONNECTED: return cim_soft_fc(&op, &m, &ti, &to);
#endif
    default: return CIM_E_UNSUPPORTED;
    }
}

/* Four dot products of x against four adjacent columns (stride K). Two inputs per step keep the
 * working set (4 accumulators, 5 pointers, 2 inputs, 1 weight) in registers on rv32. */
static inline void dot4(const int8_t *x, const int8_t *w0, uint32_t K, int32_t acc[4]) {
    const int8_t *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
    const int8_t *end2 = x + (K & ~1u);
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    while (x != end2) {
        const int32_t x0 = x[0], x1 = x[1];
        a0 += x0 * w0[0];
        a1 += x0 * w1[0];
        a2 += x0 * w2[0];
        a3 += x0 * w3[0];
        a0 += x1 * w0[1];
        a1 += x1 * w1[1];
        a2 += x1 * w2[1];
        a3 += x1 * w3[1];
        x += 2;
        w0 += 2;
        w1 += 2;
        w2 += 2;
        w3 += 2;
    }
    if (K & 1u) {
        const int32_t x0 = *x;
        a0 += x0 * *w0;
        a1 += x0 * *w1;
        a2 += x0 * *w2;
        a3 += x0 * *w3;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static inline int32_t dot1(const int8_t *x, const int8_t *w, uint32_t K, int32_t a) {
    const int8_t *end4 = x + (K & ~3u), *end = x + K;
    while (x != end4) {
        a += x[0] * w[0] + x[1] * w[1] + x[2] * w[2] + x[3] * w[3];
        x += 4;
        w += 4;
    }
    while (x != end) a += *x++ * *w++;
    return a;
}

void cim_soft_matvec(const int8_t *x, const cim_matrix_t *m, const cim_soft_act_t *act, int8_t *out) {
    const uint32_t K = m->rows, N = m->cols;
    const int8_t *w = m->cells;
    const int32_t *q = m->quant;
    uint32_t c = 0;
    for (; c + 4 <= N; c += 4) {
        int32_t acc[4] = {q[0], q[3], q[6], q[9]};
        dot4(x, w, K, acc);
        out[c] = cim_soft_out(acc[0], q, act);
        out[c + 1] = cim_soft_out(acc[1], q + 3, act);
        out[c + 2] = cim_soft_out(acc[2], q + 6, act);
        out[c + 3] = cim_soft_out(acc[3], q + 9, act);
        w += 4 * K;
        q += 12;
    }
    for (; c < N; c++) {
        out[c] = cim_soft_out(dot1(x, w, K, q[0]), q, act);
        w += K;
        q += 3;
    }
}

void cim_soft_matvec16(const int8_t *x, const cim_matrix_t *m, const cim_soft_act_t *act, int16_t *out) {
    const uint32_t K = m->rows, N = m->cols;
    const int8_t *w = m->cells;
    const int32_t *q = m->quant;
    uint32_t c = 0;
    for (; c + 4 <= N; c += 4) {
        int32_t acc[4] = {q[0], q[3], q[6], q[9]};
        dot4(x, w, K, acc);
        for (uint32_t j = 0; j < 4u; j++) out[c + j] = (int16_t)cim_soft_out32(acc[j], q + 3u * j, act);
        w += 4 * K;
        q += 12;
    }
    for (; c < N; c++) {
        out[c] = (int16_t)cim_soft_out32(dot1(x, w, K, q[0]), q, act);
        w += K;
        q += 3;
    }
}

/* Two input vectors against four columns: each weight load feeds two MACs. */
static inline void dot4x2(const int8_t *x, const int8_t *y, const int8_t *w0, uint32_t K, int32_t a[8]) {
    const int8_t *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
    const int8_t *end2 = x + (K & ~1u);
    int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], b0 = a[4], b1 = a[5], b2 = a[6], b3 = a[7];
    while (x != end2) {
        int32_t x0 = x[0], y0 = y[0], w;
        w = w0[0]; a0 += x0 * w; b0 += y0 * w;
        w = w1[0]; a1 += x0 * w; b1 += y0 * w;
        w = w2[0]; a2 += x0 * w; b2 += y0 * w;
        w = w3[0]; a3 += x0 * w; b3 += y0 * w;
        x0 = x[1];
        y0 = y[1];
        w = w0[1]; a0 += x0 * w; b0 += y0 * w;
        w = w1[1]; a1 += x0 * w; b1 += y0 * w;
        w = w2[1]; a2 += x0 * w; b2 += y0 * w;
        w = w3[1]; a3 += x0 * w; b3 += y0 * w;
        x += 2;
        y += 2;
        w0 += 2;
        w1 += 2;
        w2 += 2;
        w3 += 2;
    }
    if (K & 1u) {
        const int32_t x0 = *x, y0 = *y;
        a0 += x0 * *w0; b0 += y0 * *w0;
        a1 += x0 * *w1; b1 += y0 * *w1;
        a2 += x0 * *w2; b2 += y0 * *w2;
        a3 += x0 * *w3; b3 += y0 * *w3;
    }
    a[0] = a0; a[1] = a1; a[2] = a2; a[3] = a3;
    a[4] = b0; a[5] = b1; a[6] = b2; a[7] = b3;
}

void cim_soft_matvec2(const int8_t *x, const int8_t *y, const cim_matrix_t *m, const cim_soft_act_t *act,
                      int8_t *out_x, int8_t *out_y) {
    const uint32_t K = m->rows, N = m->cols;
    const int8_t *w = m->cells;
    const int32_t *q = m->quant;
    uint32_t c = 0;
    for (; c + 4 <= N; c += 4) {
        int32_t acc[8] = {q[0], q[3], q[6], q[9], q[0], q[3], q[6], q[9]};
        dot4x2(x, y, w, K, acc);
        for (int j = 0; j < 4; j++) {
            out_x[c + j] = cim_soft_out(acc[j], q + 3 * j, act);
            out_y[c + j] = cim_soft_out(acc[4 + j], q + 3 * j, act);
        }
        w += 4 * K;
        q += 12;
    }
    for (; c < N; c++) {
        out_x[c] = cim_soft_out(dot1(x, w, K, q[0]), q, act);
        out_y[c] = cim_soft_out(dot1(y, w, K, q[0]), q, act);
        w += K;
        q += 3;
    }
}
