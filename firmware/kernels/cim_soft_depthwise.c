/* DEPTHWISE_CONV_2D on the soft CiM backend. The matrix has one column per output channel holding
 * its kh*kw weights (K = kh*kw); output channel oc reads input channel oc / depth_mult.
 * Per output pixel the kernel sets one pointer per tap: into the input pixel, or into a row of in_zp
 * for taps in the padding (the zero point is folded into the bias, so padding must read in_zp). The
 * channel loop then runs without bounds checks, four channels per pass. */
#include <string.h>

#include "cim_soft.h"

#ifndef CIM_SOFT_DW_TAPS_MAX
#define CIM_SOFT_DW_TAPS_MAX 64 /* kh*kw handled with the tap-pointer path */
#endif

typedef struct {
    int32_t H, W, C, OH, OW, OC, sh, sw, dh, dw, pt, pl, kh, kw, mult, zp;
} dw_geom_t;

/* depth_mult 1, K = 9 (3x3, the common case): four channels per pass, so one tap pointer serves four
 * MACs (byte offsets 0..3) and the four columns' weights sit at constant offsets (9, 18, 27). */
static inline __attribute__((always_inline)) void pixel_m1(const int8_t *const *taps, const int32_t K,
                                                           const cim_matrix_t *m, const cim_soft_act_t *act,
                                                           int8_t *out, int32_t C) {
    const int8_t *w = m->cells;
    const int32_t *q = m->quant;
    int32_t c = 0;
    for (; c + 4 <= C; c += 4, w += 4 * K, q += 12) {
        int32_t a0 = q[0], a1 = q[3], a2 = q[6], a3 = q[9];
#pragma GCC unroll 9
        for (int32_t t = 0; t < K; t++) {
            const int8_t *x = taps[t] + c;
            a0 += x[0] * w[t];
            a1 += x[1] * w[K + t];
            a2 += x[2] * w[2 * K + t];
            a3 += x[3] * w[3 * K + t];
            /* keeps GCC from hoisting all 4K weight loads ahead (it then spills them on rv32) */
            __asm__ volatile("" ::: "memory");
        }
        out[c] = cim_soft_out(a0, q, act);
        out[c + 1] = cim_soft_out(a1, q + 3, act);
        out[c + 2] = cim_soft_out(a2, q + 6, act);
        out[c + 3] = cim_soft_out(a3, q + 9, act);
    }
    for (; c < C; c++, w += K, q += 3) {
        int32_t a = q[0];
        for (int32_t t = 0; t < K; t++) a += taps[t][c] * w[t];
        out[c] = cim_soft_out(a, q, act);
    }
}

static void pixel_m1_k9(const int8_t *const *taps, const cim_matrix_t *m, const cim_soft_act_t *act, int8_t *out,
                        int32_t C) {
    pixel_m1(taps, 9, m, act, out, C);
}

/* Any other K: the same four-channel pass without unrolling (code size). */
static void pixel_m1_any(const int8_t *const *taps, int32_t K, const cim_matrix_t *m, const cim_soft_act_t *act,
                         int8_t *out, int32_t C) {
    const int8_t *w = m->cells;
    const int32_t *q = m->quant;
    int32_t c = 0;
    for (; c + 4 <= C; c += 4, w += 4 * K, q += 12) {
        int32_t a0 = q[0], a1 = q[3], a2 = q[6], a3 = q[9];
        const int8_t *w0 = w, *w1 = w + K, *w2 = w + 2 * K, *w3 = w + 3 * K;
        for (int32_t t = 0; t < K; t++) {
            const int8_t *x = taps[t] + c;
            a0 += x[0] * *w0++;
            a1 += x[1] * *w1++;
            a2 += x[2] * *w2++;
            a3 += x[3] * *w3++;
        }
        out[c] = cim_soft_out(a0, q, act);
        out[c + 1] = cim_soft_out(a1, q + 3, act);
        out[c + 2] = cim_soft_out(a2, q + 6, act);
        out[c + 3] = cim_soft_out(a3, q + 9, act);
    }
    for (; c < C; c++, w += K, q += 3) {
        int32_t a = q[0];
        for (int32_t t = 0; t < K; t++) a += taps[t][c] * w[t];
        out[c] = cim_soft_out(a, q, act);
    }
}

static void pixel_taps(const int8_t *const *t, const dw_geom_t *g, const cim_matrix_t *m,
                       const cim_soft_act_t *act, int8_t *out) {
    const int32_t K = (int32_t)m->rows;
    const int8_t *w = m->cells;
    const int32_t *q = m->quant;
    int32_t oc = 0;
    for (int32_t ic = 0; ic < g->C; ic++) {
        for (int32_t j = 0; j < g->mult; j++, oc++, w += K, q += 3) {
            int32_t acc = q[0];
            for (int32_t k = 0; k < K; k++) acc += t[k][ic] * w[k];
            out[oc] = cim_soft_out(acc, q, act);
        }
    }
}

/* Without tap pointers (very large kernels or channel counts): bounds checks per tap. */
static void pixel_checked(const dw_geom_t *g, const int8_t *img, int32_t oy, int32_t ox, const cim_matrix_t *m,
                          const cim_soft_act_t *act, int8_t *out) {
    const int32_t K = (int32_t)m->rows;
    for (int32_t oc = 0; oc < g->OC; oc++) {
        const int8_t *w = m->cells + (size_t)oc * (size_t)K;
        const int32_t *q = m->quant + 3 * oc;
        const int32_t ic = oc / g->mult;
        int32_t acc = q[0];
        for (int32_t ky = 0; ky < g->kh; ky++) {
            const int32_t iy = oy * g->sh - g->pt + ky * g->dh;
            for (int32_t kx = 0; kx < g->kw; kx++) {
                const int32_t ix = ox * g->sw - g->pl + kx * g->dw;
                const int32_t x = (iy < 0 || iy >= g->H || ix < 0 || ix >= g->W)
                                      ? g->zp
                                      : img[(iy * g->W + ix) * g->C + ic];
                acc += x * w[ky * g->kw + kx];
            }
        }
        out[oc] = cim_soft_out(acc, q, act);
    }
}

int cim_soft_depthwise(const cim_op_t *op, const cim_matrix_t *m, const cim_tensor_t *in,
                       const cim_tensor_t *out) {
    if (in->dtype == CIMG_DTYPE_INT16) return cim_soft_depthwise_wide(op, m, in, out); /* 16x8 */
    const int32_t *p = op->params;
    dw_geom_t g = {
        .H = in->dims[1], .W = in->dims[2], .C = in->dims[3],
        .OH = out->dims[1], .OW = out->dims[2], .OC = out->dims[3],
        .sh = p[CIM_P_DEPTHWISE_CONV_2D_STRIDE_H], .sw = p[CIM_P_DEPTHWISE_CONV_2D_STRIDE_W],
        .dh = p[CIM_P_DEPTHWISE_CONV_2D_DIL_H], .dw = p[CIM_P_DEPTHWISE_CONV_2D_DIL_W],
        .pt = p[CIM_P_DEPTHWISE_CONV_2D_PAD_TOP], .pl = p[CIM_P_DEPTHWISE_CONV_2D_PAD_LEFT],
        .kh = p[CIM_P_DEPTHWISE_CONV_2D_KERNEL_H], .kw = p[CIM_P_DEPTHWISE_CONV_2D_KERNEL_W],
        .mult = p[CIM_P_DEPTHWISE_CONV_2D_DEPTH_MULT], .zp = p[CIM_P_DEPTHWISE_CONV_2D_IN_ZP],
    };
    const int32_t batches = in->dims[0];
    if (out->dims[0] != batches || g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 || g.kh < 1 || g.kw < 1 ||
        g.mult < 1)
        return CIM_E_PARAM;
    const int32_t K = g.kh * g.kw;
    if (g.OC != g.C * g.mult || m->rows != (uint32_t)K || m->cols != (uint32_t)g.OC) return CIM_E_SHAPE;
    const cim_soft_act_t act = {p[CIM_P_DEPTHWISE_CONV_2D_OUT_ZP], p[CIM_P_DEPTHWISE_CONV_2D_ACT_MIN],
                                p[CIM_P_DEPTHWISE_CONV_2D_ACT_MAX]};
    const int use_taps = K <= CIM_SOFT_DW_TAPS_MAX && g.C <= CIM_SOFT_PATCH_MAX;
    int8_t zrow[CIM_SOFT_PATCH_MAX];
    const int8_t *taps[CIM_SOFT_DW_TAPS_MAX];
    if (use_taps) memset(zrow, (int8_t)g.zp, (size_t)g.C);
    for (int32_t b = 0; b < batches; b++) {
        const int8_t *img = (const int8_t *)in->data + (size_t)b * (size_t)(g.H * g.W * g.C);
        int8_t *o = (int8_t *)out->data + (size_t)b * (size_t)(g.OH * g.OW * g.OC);
        for (int32_t oy = 0; oy < g.OH; oy++) {
            for (int32_t ox = 0; ox < g.OW; ox++, o += g.OC) {
                if (!use_taps) {
                    pixel_checked(&g, img, oy, ox, m, &act, o);
                    continue;
                }
                int32_t t = 0;
                for (int32_t ky = 0; ky < g.kh; ky++) {
                    const int32_t iy = oy * g.sh - g.pt + ky * g.dh;
                    for (int32_t kx = 0; kx < g.kw; kx++, t++) {
                        const int32_t ix = ox * g.sw - g.pl + kx * g.dw;
                        taps[t] = (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) ? zrow
                                                                              : img + (iy * g.W + ix) * g.C;
                    }
                }
                if (g.mult != 1)
                    pixel_taps(taps, &g, m, &act, o);
                else if (K == 9)
                    pixel_m1_k9(taps, m, &act, o, g.C);
                else
                    pixel_m1_any(taps, K, m, &act, o, g.C);
            }
        }
    }
    return CIM_OK;
}
