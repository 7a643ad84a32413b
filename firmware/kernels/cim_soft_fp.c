/* The floating-point (BF16) macro on the soft CiM backend: the arithmetic of sdk/mac/fpcim.py, bit for bit.
 *
 * A BF16 matrix (format 1: a floating-point target, sram-fpcim) holds BF16 weight words; its quant records hold
 * the float32 bias bits and the exponent-alignment group G (rows). Per output and per group of G consecutive
 * rows: the inputs are rounded to BF16 (nearest, ties to even), read as signed 9-bit mantissas and exponents
 * (exponent 0: zero), shifted to the group's largest exponent (magnitudes truncated); the weights likewise per
 * column; the integer sum of products (exact) times 2^(Ex + Ew - 268) is one float32 (exact in double, one
 * rounding); the groups are added in order in float32, then the bias, then the float32 activation bounds. */
#include <string.h>

#include "cim_soft.h"

#define FP_GROUP_MAX 256 /* rows of an alignment group held on the stack (three arrays of 2-byte words) */
#define FP_VALUE_SHIFT 134 /* value = mantissa x 2^(E - 134) */

static inline uint16_t fp_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline int32_t fp_mant(uint16_t b) {
    const int32_t mag = (b >> 7) & 0xFF ? 128 + (b & 0x7F) : 0;
    return (b & 0x8000u) ? -mag : mag;
}

static inline int32_t fp_exp(uint16_t b) { return (b >> 7) & 0xFF; }

static inline int32_t fp_align(int32_t m, int32_t e, int32_t top) {
    int32_t sh = top - e;
    if (sh > 31) sh = 31;
    const int32_t mag = (m < 0 ? -m : m) >> sh;
    return m < 0 ? -mag : mag;
}

/* acc x 2^(e - 2 x 134) as a float32: exact in double (|acc| < 2^22, the exponent in double's range), then one
 * rounding to float32, as numpy's float64 -> float32 cast. */
static inline float fp_normalize(int32_t acc, int32_t e) {
    const uint64_t bits = (uint64_t)(e - 2 * FP_VALUE_SHIFT + 1023) << 52;
    double p;
    memcpy(&p, &bits, sizeof p);
    return (float)((double)acc * p);
}

static inline float fp_param(int32_t v) {
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

/* Align n BF16 words in place to their largest exponent: mant[] gets the aligned mantissas; returns the
 * exponent. */
static int32_t fp_align_group(const uint16_t *words, uint32_t n, int16_t *mant) {
    int32_t top = 0;
    for (uint32_t i = 0; i < n; i++)
        if (fp_exp(words[i]) > top) top = fp_exp(words[i]);
    for (uint32_t i = 0; i < n; i++) mant[i] = (int16_t)fp_align(fp_mant(words[i]), fp_exp(words[i]), top);
    return top;
}

/* One group's contribution to column n: inputs already aligned (xa, exponent xt), the column's weights
 * cells[k0 .. k0 + n_rows) aligned here. */
static float fp_group(const int16_t *xa, int32_t xt, const uint16_t *w, uint32_t n_rows) {
    int16_t wa[FP_GROUP_MAX];
    const int32_t wt = fp_align_group(w, n_rows, wa);
    int32_t acc = 0;
    for (uint32_t i = 0; i < n_rows; i++) acc += (int32_t)xa[i] * wa[i];
    return fp_normalize(acc, xt + wt);
}

static float fp_finish(float y, const int32_t *q, float lo, float hi) {
    y += fp_param(q[0]);
    y = y < lo ? lo : y;
    return y > hi ? hi : y;
}

typedef struct {
    const float *x;
    int32_t h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, dm;
} fp_geo_t;

/* The BF16 word of input row k of the window at (b, oy, ox): dense K order (ky, kx, ci); depthwise K order
 * (ky, kx) of input channel ci. Outside the input: 0. */
static uint16_t fp_tap(const fp_geo_t *g, int32_t b, int32_t oy, int32_t ox, int32_t ky, int32_t kx, int32_t ci) {
    const int32_t iy = oy * g->sh - g->pt + ky * g->dh, ix = ox * g->sw - g->pl + kx * g->dw;
    if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) return 0;
    return fp_bf16(g->x[((b * g->h + iy) * g->w + ix) * g->c + ci]);
}

int cim_soft_fp(const cim_op_t *op, const cim_matrix_t *m, const cim_tensor_t *in, const cim_tensor_t *out) {
    const uint32_t K = m->rows, N = m->cols;
    const uint16_t *cells = (const uint16_t *)(const void *)m->cells;
    const uint32_t G = (uint32_t)m->quant[1];
    if (G == 0 || G > FP_GROUP_MAX || K == 0 || N == 0) return CIM_E_PARAM;
    const int32_t *p = op->params;
    const float lo = fp_param(p[op->n_params - 2]), hi = fp_param(p[op->n_params - 1]); /* act_min, act_max */
    float *y = (float *)out->data;
    uint16_t words[FP_GROUP_MAX];
    int16_t xa[FP_GROUP_MAX];
    if (op->opcode == CIM_OP_FULLY_CONNECTED) {
        if (in->nbytes % (4u * K) != 0 || out->nbytes != in->nbytes / K * N) return CIM_E_SHAPE;
        const float *x = (const float *)in->data;
        const uint32_t rows = in->nbytes / 4u / K;
        for (uint32_t r = 0; r < rows; r++) {
            float *yr = y + r * N;
            for (uint32_t k0 = 0; k0 < K; k0 += G) {
                const uint32_t len = K - k0 < G ? K - k0 : G;
                for (uint32_t i = 0; i < len; i++) words[i] = fp_bf16(x[r * K + k0 + i]);
                const int32_t xt = fp_align_group(words, len, xa);
                for (uint32_t n = 0; n < N; n++) {
                    const float part = fp_group(xa, xt, cells + n * K + k0, len);
                    yr[n] = k0 == 0 ? part : yr[n] + part;
                }
            }
            for (uint32_t n = 0; n < N; n++) yr[n] = fp_finish(yr[n], m->quant + 3 * n, lo, hi);
        }
        return CIM_OK;
    }
    const int dw = op->opcode == CIM_OP_DEPTHWISE_CONV_2D;
    const fp_geo_t g = {(const float *)in->data, in->dims[1], in->dims[2], in->dims[3],
                        p[CIM_P_CONV_2D_KERNEL_H], p[CIM_P_CONV_2D_KERNEL_W], p[CIM_P_CONV_2D_STRIDE_H],
                        p[CIM_P_CONV_2D_STRIDE_W], p[CIM_P_CONV_2D_DIL_H], p[CIM_P_CONV_2D_DIL_W],
                        p[CIM_P_CONV_2D_PAD_TOP], p[CIM_P_CONV_2D_PAD_LEFT],
                        dw ? p[CIM_P_DEPTHWISE_CONV_2D_DEPTH_MULT] : 1};
    const int32_t nb = out->dims[0], oh = out->dims[1], ow = out->dims[2];
    if ((uint32_t)out->dims[3] != N) return CIM_E_SHAPE;
    for (int32_t b = 0; b < nb; b++)
        for (int32_t oy = 0; oy < oh; oy++)
            for (int32_t ox = 0; ox < ow; ox++) {
                float *yp = y + (((uint32_t)b * oh + oy) * ow + ox) * N;
                for (uint32_t k0 = 0; k0 < K; k0 += G) {
                    const uint32_t len = K - k0 < G ? K - k0 : G;
                    int32_t xt = 0;
                    if (!dw) { /* one aligned input group serves every column */
                        for (uint32_t i = 0; i < len; i++) {
                            const int32_t k = (int32_t)(k0 + i), ci = k % g.c, kx = (k / g.c) % g.kw, ky = k / (g.c * g.kw);
                            words[i] = fp_tap(&g, b, oy, ox, ky, kx, ci);
                        }
                        xt = fp_align_group(words, len, xa);
                    }
                    for (uint32_t n = 0; n < N; n++) {
                        if (dw) { /* column n reads its own input channel */
                            const int32_t ci = (int32_t)n / g.dm;
                            for (uint32_t i = 0; i < len; i++) {
                                const int32_t k = (int32_t)(k0 + i);
                                words[i] = fp_tap(&g, b, oy, ox, k / g.kw, k % g.kw, ci);
                            }
                            xt = fp_align_group(words, len, xa);
                        }
                        const float part = fp_group(xa, xt, cells + n * K + k0, len);
                        yp[n] = k0 == 0 ? part : yp[n] + part;
                    }
                }
                for (uint32_t n = 0; n < N; n++) yp[n] = fp_finish(yp[n], m->quant + 3 * n, lo, hi);
            }
    return CIM_OK;
}
