/* CONV_2D on the soft CiM backend. Column c of the matrix is filter c flattened [kh][kw][cin], so
 * an output pixel is the matrix-vector product of its receptive field (im2col patch) with all
 * columns. Three paths, no per-MAC bounds checks:
 *   1x1 unpadded  the input pixel's channels are the patch: no copy;
 *   K fits        the patch is gathered on the stack, padded taps filled with in_zp (the zero point
 *                 is folded into the bias, so padding must read in_zp, not be skipped);
 *   otherwise     tap by tap over column blocks, padded taps adding in_zp * (their weights). */
#include <string.h>

#include "cim_soft.h"

typedef struct {
    int32_t H, W, C, OH, OW, OC, sh, sw, dh, dw, pt, pl, kh, kw, zp;
} conv_geom_t;

static const int8_t *gather_patch(const conv_geom_t *g, const int8_t *img, int32_t oy, int32_t ox, int8_t *patch) {
    const int32_t C = g->C;
    const int32_t ix0 = ox * g->sw - g->pl;
    const int32_t row = g->kw * C;
    const int row_inside = ix0 >= 0 && ix0 + (g->kw - 1) * g->dw < g->W;
    for (int32_t ky = 0; ky < g->kh; ky++) {
        const int32_t iy = oy * g->sh - g->pt + ky * g->dh;
        int8_t *dst = patch + ky * row;
        if (iy < 0 || iy >= g->H) {
            memset(dst, (int8_t)g->zp, (size_t)row);
            continue;
        }
        const int8_t *src = img + (iy * g->W) * C;
        if (row_inside && g->dw == 1) {
            memcpy(dst, src + ix0 * C, (size_t)row);
            continue;
        }
        for (int32_t kx = 0; kx < g->kw; kx++) {
            const int32_t ix = ix0 + kx * g->dw;
            if (ix < 0 || ix >= g->W)
                memset(dst + kx * C, (int8_t)g->zp, (size_t)C);
            else
                memcpy(dst + kx * C, src + ix * C, (size_t)C);
        }
    }
    return patch;
}

/* Fallback without a patch: column by column, tap by tap. */
static void pixel_by_taps(const conv_geom_t *g, const int8_t *img, int32_t oy, int32_t ox, const cim_matrix_t *m,
                          const cim_soft_act_t *act, int8_t *out) {
    const int32_t C = g->C;
    const int8_t *w = m->cells;
    const int32_t *q = m->quant;
    for (uint32_t c = 0; c < m->cols; c++, w += m->rows, q += 3) {
        int32_t acc = q[0];
        const int8_t *wt = w;
        for (int32_t ky = 0; ky < g->kh; ky++) {
            const int32_t iy = oy * g->sh - g->pt + ky * g->dh;
            for (int32_t kx = 0; kx < g->kw; kx++, wt += C) {
                const int32_t ix = ox * g->sw - g->pl + kx * g->dw;
                if (iy < 0 || iy >= g->H || ix < 0 || ix >= g->W) {
                    int32_t s = 0;
                    for (int32_t i = 0; i < C; i++) s += wt[i];
                    acc += g->zp * s;
                } else {
                    const int8_t *x = img + (iy * g->W + ix) * C;
                    for (int32_t i = 0; i < C; i++) acc += x[i] * wt[i];
                }
            }
        }
        out[c] = cim_soft_out(acc, q, act);
    }
}

int cim_soft_conv(const cim_op_t *op, const cim_matrix_t *m, const cim_tensor_t *in, const cim_tensor_t *out) {
    if (in->dtype == CIMG_DTYPE_INT16) return cim_soft_conv_wide(op, m, in, out); /* 16x8 */
    const int32_t *p = op->params;
    conv_geom_t g = {
        .H = in->dims[1], .W = in->dims[2], .C = in->dims[3],
        .OH = out->dims[1], .OW = out->dims[2], .OC = out->dims[3],
        .sh = p[CIM_P_CONV_2D_STRIDE_H], .sw = p[CIM_P_CONV_2D_STRIDE_W],
        .dh = p[CIM_P_CONV_2D_DIL_H], .dw = p[CIM_P_CONV_2D_DIL_W],
        .pt = p[CIM_P_CONV_2D_PAD_TOP], .pl = p[CIM_P_CONV_2D_PAD_LEFT],
        .kh = p[CIM_P_CONV_2D_KERNEL_H], .kw = p[CIM_P_CONV_2D_KERNEL_W],
        .zp = p[CIM_P_CONV_2D_IN_ZP],
    };
    const int32_t batches = in->dims[0];
    if (out->dims[0] != batches || g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 || g.kh < 1 || g.kw < 1)
        return CIM_E_PARAM;
    if (m->rows != (uint32_t)(g.kh * g.kw * g.C) || m->cols != (uint32_t)g.OC) return CIM_E_SHAPE;
    const cim_soft_act_t act = {p[CIM_P_CONV_2D_OUT_ZP], p[CIM_P_CONV_2D_ACT_MIN], p[CIM_P_CONV_2D_ACT_MAX]};
    const uint32_t K = m->rows;
    const int direct = g.kh == 1 && g.kw == 1 && g.pt <= 0 && g.pl <= 0 &&
                       (g.OH - 1) * g.sh - g.pt < g.H && (g.OW - 1) * g.sw - g.pl < g.W;
    const int gather = !direct && K <= CIM_SOFT_PATCH_MAX;
    const int pairs = direct || 2u * K <= CIM_SOFT_PATCH_MAX; /* two pixels per pass over the weights */
    const int32_t npix = g.OH * g.OW;
    int8_t patch[CIM_SOFT_PATCH_MAX];
    for (int32_t b = 0; b < batches; b++) {
        const int8_t *img = (const int8_t *)in->data + (size_t)b * (size_t)(g.H * g.W * g.C);
        int8_t *o = (int8_t *)out->data + (size_t)b * (size_t)(npix * g.OC);
        int32_t i = 0;
        if (pairs) {
            for (; i + 1 < npix; i += 2) {
                const int32_t oy0 = i / g.OW, ox0 = i - oy0 * g.OW;
                const int32_t oy1 = (i + 1) / g.OW, ox1 = i + 1 - oy1 * g.OW;
                const int8_t *x = direct ? img + ((oy0 * g.sh) * g.W + ox0 * g.sw) * g.C
                                         : gather_patch(&g, img, oy0, ox0, patch);
                const int8_t *y = direct ? img + ((oy1 * g.sh) * g.W + ox1 * g.sw) * g.C
                                         : gather_patch(&g, img, oy1, ox1, patch + K);
                cim_soft_matvec2(x, y, m, &act, o + i * g.OC, o + (i + 1) * g.OC);
            }
        }
        for (; i < npix; i++) {
            const int32_t oy = i / g.OW, ox = i - oy * g.OW;
            if (direct)
                cim_soft_matvec(img + ((oy * g.sh) * g.W + ox * g.sw) * g.C, m, &act, o + i * g.OC);
            else if (gather)
                cim_soft_matvec(gather_patch(&g, img, oy, ox, patch), m, &act, o + i * g.OC);
            else
                pixel_by_taps(&g, img, oy, ox, m, &act, o + i * g.OC);
        }
    }
    return CIM_OK;
}
