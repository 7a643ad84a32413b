/* TFLM's 16x8 mode on the soft CiM backend: int16 activations (zero point 0), int8 weights, the bias and the
 * sums in 64 bits, and TFLM's 64-bit MultiplyByQuantizedMultiplier (a 16-bit reduced multiplier, one rounding),
 * as sdk/mac/requant.py's requantize_wide. The macro itself sees the same int8 weights; what the wider inputs
 * cost there is more bit-serial input cycles (docs/targets.md). Zero-point-0 inputs make padding add nothing,
 * so padded taps are skipped. */
#include <stddef.h>

#include "cim_soft.h"

/* Products of an int16 and an int8 are at most 2^22 in magnitude: 511 of them fit an int32. */
#define WIDE_CHUNK 511u

static inline int64_t dot16(const int16_t *x, const int8_t *w, uint32_t n) {
    int64_t acc = 0;
    while (n) {
        const uint32_t k = n < WIDE_CHUNK ? n : WIDE_CHUNK;
        int32_t a = 0;
        for (uint32_t i = 0; i < k; i++) a += x[i] * w[i];
        acc += a;
        x += k;
        w += k;
        n -= k;
    }
    return acc;
}

/* TFLM MultiplyByQuantizedMultiplier(int64_t, ...) for shift < 8 (the loader checks it), then the clamp. */
static inline int16_t out16(int64_t acc, const int32_t *q, const cim_soft_act_t *act) {
    const int64_t reduced = q[1] < 0x7FFF0000 ? (q[1] + (1 << 15)) >> 16 : 0x7FFF;
    const int total = 15 - q[2];
    int64_t v = ((acc + q[0]) * reduced + ((int64_t)1 << (total - 1))) >> total;
    v += act->out_zp;
    if (v < act->act_min) v = act->act_min;
    if (v > act->act_max) v = act->act_max;
    return (int16_t)v;
}

int cim_soft_fc_wide(const cim_op_t *op, const cim_matrix_t *m, const cim_tensor_t *in, const cim_tensor_t *out) {
    const int32_t *p = op->params;
    const uint32_t K = m->rows, N = m->cols;
    if (K == 0 || N == 0 || in->nbytes % (2u * K) != 0 || out->dtype != CIMG_DTYPE_INT16) return CIM_E_SHAPE;
    const uint32_t batches = in->nbytes / (2u * K);
    if (out->nbytes != batches * N * 2u) return CIM_E_SHAPE;
    const cim_soft_act_t act = {p[CIM_P_FULLY_CONNECTED_OUT_ZP], p[CIM_P_FULLY_CONNECTED_ACT_MIN],
                                p[CIM_P_FULLY_CONNECTED_ACT_MAX]};
    const int16_t *x = (const int16_t *)in->data;
    int16_t *y = (int16_t *)out->data;
    for (uint32_t b = 0; b < batches; b++, x += K, y += N) {
        const int8_t *w = m->cells;
        const int32_t *q = m->quant;
        for (uint32_t c = 0; c < N; c++, w += K, q += 3) y[c] = out16(dot16(x, w, K), q, &act);
    }
    return CIM_OK;
}

typedef struct {
    int32_t H, W, C, OH, OW, OC, sh, sw, dh, dw, pt, pl, kh, kw;
} wide_geom_t;

/* The window parameters of CONV_2D and DEPTHWISE_CONV_2D sit at the same indexes (contracts/ops.py). */
_Static_assert(CIM_P_CONV_2D_STRIDE_H == CIM_P_DEPTHWISE_CONV_2D_STRIDE_H &&
                   CIM_P_CONV_2D_STRIDE_W == CIM_P_DEPTHWISE_CONV_2D_STRIDE_W &&
                   CIM_P_CONV_2D_DIL_H == CIM_P_DEPTHWISE_CONV_2D_DIL_H &&
                   CIM_P_CONV_2D_DIL_W == CIM_P_DEPTHWISE_CONV_2D_DIL_W &&
                   CIM_P_CONV_2D_PAD_TOP == CIM_P_DEPTHWISE_CONV_2D_PAD_TOP &&
                   CIM_P_CONV_2D_PAD_LEFT == CIM_P_DEPTHWISE_CONV_2D_PAD_LEFT &&
                   CIM_P_CONV_2D_KERNEL_H == CIM_P_DEPTHWISE_CONV_2D_KERNEL_H &&
                   CIM_P_CONV_2D_KERNEL_W == CIM_P_DEPTHWISE_CONV_2D_KERNEL_W,
               "CONV_2D and DEPTHWISE_CONV_2D window parameters at the same indexes");
static int geometry(const cim_op_t *op, const cim_tensor_t *in, const cim_tensor_t *out, wide_geom_t *g) {
    const int32_t *p = op->params;
    *g = (wide_geom_t){
        .H = in->dims[1], .W = in->dims[2], .C = in->dims[3],
        .OH = out->dims[1], .OW = out->dims[2], .OC = out->dims[3],
        .sh = p[CIM_P_CONV_2D_STRIDE_H], .sw = p[CIM_P_CONV_2D_STRIDE_W],
        .dh = p[CIM_P_CONV_2D_DIL_H], .dw = p[CIM_P_CONV_2D_DIL_W],
        .pt = p[CIM_P_CONV_2D_PAD_TOP], .pl = p[CIM_P_CONV_2D_PAD_LEFT],
        .kh = p[CIM_P_CONV_2D_KERNEL_H], .kw = p[CIM_P_CONV_2D_KERNEL_W],
    };
    if (out->dims[0] != in->dims[0] || g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1 || g->kh < 1 || g->kw < 1 ||
        in->dtype != CIMG_DTYPE_INT16 || out->dtype != CIMG_DTYPE_INT16)
        return CIM_E_PARAM;
    return CIM_OK;
}

int cim_soft_conv_wide(const cim_op_t *op, const cim_matrix_t *m, const cim_tensor_t *in, const cim_tensor_t *out) {
    wide_geom_t g;
    int rc = geometry(op, in, out, &g);
    if (rc != CIM_OK) return rc;
    if (m->rows != (uint32_t)(g.kh * g.kw * g.C) || m->cols != (uint32_t)g.OC) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    const cim_soft_act_t act = {p[CIM_P_CONV_2D_OUT_ZP], p[CIM_P_CONV_2D_ACT_MIN], p[CIM_P_CONV_2D_ACT_MAX]};
    for (int32_t b = 0; b < in->dims[0]; b++) {
        const int16_t *img = (const int16_t *)in->data + (size_t)b * (size_t)(g.H * g.W * g.C);
        int16_t *o = (int16_t *)out->data + (size_t)b * (size_t)(g.OH * g.OW * g.OC);
        for (int32_t oy = 0; oy < g.OH; oy++) {
            for (int32_t ox = 0; ox < g.OW; ox++, o += g.OC) {
                const int8_t *w = m->cells;
                const int32_t *q = m->quant;
                for (int32_t c = 0; c < g.OC; c++, w += m->rows, q += 3) {
                    int64_t acc = 0;
                    for (int32_t ky = 0; ky < g.kh; ky++) {
                        const int32_t iy = oy * g.sh - g.pt + ky * g.dh;
                        if (iy < 0 || iy >= g.H) continue;
                        for (int32_t kx = 0; kx < g.kw; kx++) {
                            const int32_t ix = ox * g.sw - g.pl + kx * g.dw;
                            if (ix < 0 || ix >= g.W) continue;
                            acc += dot16(img + (iy * g.W + ix) * g.C, w + (ky * g.kw + kx) * g.C, (uint32_t)g.C);
                        }
                    }
                    o[c] = out16(acc, q, &act);
                }
            }
        }
    }
    return CIM_OK;
}

int cim_soft_depthwise_wide(const cim_op_t *op, const cim_matrix_t *m, const cim_tensor_t *in,
                            const cim_tensor_t *out) {
    wide_geom_t g;
    int rc = geometry(op, in, out, &g);
    if (rc != CIM_OK) return rc;
    const int32_t *p = op->params;
    const int32_t mult = p[CIM_P_DEPTHWISE_CONV_2D_DEPTH_MULT];
    if (mult < 1) return CIM_E_PARAM;
    if (g.OC != g.C * mult || m->rows != (uint32_t)(g.kh * g.kw) || m->cols != (uint32_t)g.OC) return CIM_E_SHAPE;
    const cim_soft_act_t act = {p[CIM_P_DEPTHWISE_CONV_2D_OUT_ZP], p[CIM_P_DEPTHWISE_CONV_2D_ACT_MIN],
                                p[CIM_P_DEPTHWISE_CONV_2D_ACT_MAX]};
    for (int32_t b = 0; b < in->dims[0]; b++) {
        const int16_t *img = (const int16_t *)in->data + (size_t)b * (size_t)(g.H * g.W * g.C);
        int16_t *o = (int16_t *)out->data + (size_t)b * (size_t)(g.OH * g.OW * g.OC);
        for (int32_t oy = 0; oy < g.OH; oy++) {
            for (int32_t ox = 0; ox < g.OW; ox++, o += g.OC) {
                for (int32_t oc = 0; oc < g.OC; oc++) {
                    const int8_t *w = m->cells + (size_t)oc * m->rows;
                    const int32_t ic = oc / mult;
                    int64_t acc = 0;
                    for (int32_t ky = 0; ky < g.kh; ky++) {
                        const int32_t iy = oy * g.sh - g.pt + ky * g.dh;
                        if (iy < 0 || iy >= g.H) continue;
                        for (int32_t kx = 0; kx < g.kw; kx++) {
                            const int32_t ix = ox * g.sw - g.pl + kx * g.dw;
                            if (ix < 0 || ix >= g.W) continue;
                            acc += (int32_t)img[(iy * g.W + ix) * g.C + ic] * w[ky * g.kw + kx];
                        }
                    }
                    o[oc] = out16(acc, m->quant + 3 * oc, &act);
                }
            }
        }
    }
    return CIM_OK;
}
