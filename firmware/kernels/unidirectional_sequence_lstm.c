/* UNIDIRECTIONAL_SEQUENCE_LSTM: TFLM's integer LSTM (int8 input, weights and hidden state, int16 cell state).
 *
 * Operands as cimconv.lowering.unidirectional_sequence_lstm writes them: the gates' input parts of every
 * step [1, T, 4n] (int16 Q3.12, in (input, forget, cell, output) order), computed just before by a
 * FULLY_CONNECTED on the CiM macro; the recurrent weights stacked alike [4n, n]; the recurrent bias holding
 * the hidden zero point folded in (int32, 4n); then the hidden (int8) and cell (int16) state tensors, which
 * live in the arena across invocations (set at load and at a state reset) and are updated in place.
 *
 * Per step and unit j: each gate's recurrent sum requantized to int16 Q3.12 and added to its input part
 * with int16 saturation; sigmoid (tanh for the cell gate) on TFLM's 16-bit table; cell = sat(sat(f * c) +
 * sat(i * g)), clipped; hidden = tanh(cell) * o requantized to int8. Everything after the sums is
 * element-wise, so unit by unit gives TFLM's gate-by-gate results; the step's new hidden values go straight
 * into its output row, and become the hidden state once the step is done (no scratch memory).
 * Mirrors sdk/golden/kernels/unidirectional_sequence_lstm.py. */
#include <stdint.h>
#include <string.h>

#include "cim_gemmlowp.h"
#include "cim_kernel.h"
#include "cim_sigmoid16.h"

/* The four gates' sums of one unit: bias[g n] + row(g) . v over k values, row(g) = w + g * gate_stride (the
 * gates' rows of the stacked matrix); one load of v feeds four MACs. int32 sums as TFLM's, accumulated
 * unsigned (they wrap, no signed-overflow UB). */
static void dot4(const int8_t *w, uint32_t gate_stride, const int8_t *v, uint32_t k, const int32_t *bias, uint32_t n,
                 int32_t out[4]) {
    const int8_t *w0 = w, *w1 = w + gate_stride, *w2 = w1 + gate_stride, *w3 = w2 + gate_stride;
    uint32_t a0 = (uint32_t)bias[0], a1 = (uint32_t)bias[n], a2 = (uint32_t)bias[2u * n], a3 = (uint32_t)bias[3u * n];
    for (uint32_t i = 0; i < k; ++i) {
        const int32_t x = v[i];
        a0 += (uint32_t)(w0[i] * x);
        a1 += (uint32_t)(w1[i] * x);
        a2 += (uint32_t)(w2[i] * x);
        a3 += (uint32_t)(w3[i] * x);
    }
    out[0] = (int32_t)a0;
    out[1] = (int32_t)a1;
    out[2] = (int32_t)a2;
    out[3] = (int32_t)a3;
}

static int32_t sat16(int32_t v) { return cim_clamp(v, INT16_MIN, INT16_MAX); }

typedef struct {
    uint32_t steps, n;
} lstm_dims_t;

static int lstm_dims(const cim_op_t *op, const cim_tensor_t *const *in, int n_inputs, const cim_tensor_t *out,
                     lstm_dims_t *d) {
    if (n_inputs != 5 || op->n_params < CIM_OP_UNIDIRECTIONAL_SEQUENCE_LSTM_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *gx = in[0], *w_rec = in[1], *b_rec = in[2], *h = in[3], *c = in[4];
    if (gx->dtype != CIMG_DTYPE_INT16 || w_rec->dtype != CIMG_DTYPE_INT8 || b_rec->dtype != CIMG_DTYPE_INT32 ||
        h->dtype != CIMG_DTYPE_INT8 || c->dtype != CIMG_DTYPE_INT16 || out->dtype != CIMG_DTYPE_INT8)
        return CIM_E_UNSUPPORTED;
    d->steps = (uint32_t)gx->dims[2];
    d->n = (uint32_t)w_rec->dims[3];
    const uint64_t n4 = 4u * (uint64_t)d->n;
    if (gx->rank != 3 || gx->dims[1] != 1 || w_rec->rank != 2 || d->n == 0 || (uint64_t)(uint32_t)gx->dims[3] != n4 ||
        (uint64_t)(uint32_t)w_rec->dims[2] != n4 || b_rec->nbytes != 4u * n4 || h->nbytes != d->n ||
        c->nbytes != 2u * d->n || out->nbytes != (uint64_t)d->steps * d->n)
        return CIM_E_SHAPE;
    return CIM_OK;
}

int cim_check_unidirectional_sequence_lstm(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                                           const cim_tensor_t *output) {
    lstm_dims_t d;
    const int err = lstm_dims(op, inputs, n_inputs, output, &d);
    if (err != CIM_OK) return err;
    const int32_t *p = op->params;
    for (int k = CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_HI_MULT; k <= CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_HIDDEN_SHIFT;
         k += 2)
        if (p[k] < 0 || p[k + 1] < -31 || p[k + 1] > 30) return CIM_E_PARAM;
    const int32_t tm = p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_TANH_MULT], ts = p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_TANH_SHIFT];
    if (p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_HIDDEN_ZP] < INT8_MIN || p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_HIDDEN_ZP] > INT8_MAX ||
        p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_CELL_CLIP] < 0 || p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_CELL_CLIP] > INT16_MAX ||
        tm < 0 || tm > 3 || ts < 0 || ts > (tm ? 18 : 14))
        return CIM_E_PARAM;
    return CIM_OK;
}

int cim_kernel_unidirectional_sequence_lstm(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                                            cim_tensor_t *output) {
    lstm_dims_t d;
    const int err = lstm_dims(op, inputs, n_inputs, output, &d);
    if (err != CIM_OK) return err;
    const int32_t *p = op->params;
    const int16_t *gx = (const int16_t *)inputs[0]->data;
    const int8_t *w_rec = (const int8_t *)inputs[1]->data;
    const int32_t *b_rec = (const int32_t *)inputs[2]->data;
    int8_t *h = (int8_t *)inputs[3]->data, *y = (int8_t *)output->data;
    int16_t *c = (int16_t *)inputs[4]->data;
    const uint32_t n = d.n;
    const int32_t clip = p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_CELL_CLIP];
    const int32_t hzp = p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_HIDDEN_ZP];
    for (uint32_t t = 0; t < d.steps; ++t) {
        const int16_t *gt = gx + t * 4u * n;
        int8_t *yt = y + t * n;
        for (uint32_t j = 0; j < n; ++j) {
            int32_t gate[4], sh[4];
            dot4(w_rec + j * n, n * n, h, n, b_rec + j, n, sh);
            for (uint32_t g = 0; g < 4u; ++g) {
                const int32_t *mh = p + CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_HI_MULT + 2 * g;
                gate[g] = sat16(gt[g * n + j] + sat16(cim_mbqm(sh[g], mh[0], mh[1])));
            }
            const int32_t ig = cim_sigmoid16(gate[0], 0, 0), fg = cim_sigmoid16(gate[1], 0, 0);
            const int32_t og = cim_sigmoid16(gate[3], 0, 0);
            const int32_t zg = cim_tanh16(gate[2], 0, 0); /* Q3.12 input: TFLM's Tanh with scale power -12 */
            const int32_t kept = sat16(cim_mbqm(fg * (int32_t)c[j], p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_FORGET_MULT],
                                                p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_FORGET_SHIFT]));
            const int32_t added = sat16(cim_mbqm(ig * zg, p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_INPUT_MULT],
                                                 p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_INPUT_SHIFT]));
            int32_t cell = sat16(kept + added);
            if (clip > 0) cell = cim_clamp(cell, -clip, clip);
            c[j] = (int16_t)cell;
            const int32_t sq = cim_tanh16(cell, p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_TANH_MULT],
                                      p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_TANH_SHIFT]);
            yt[j] = (int8_t)cim_clamp(cim_mbqm(sq * og, p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_HIDDEN_MULT],
                                               p[CIM_P_UNIDIRECTIONAL_SEQUENCE_LSTM_HIDDEN_SHIFT]) + hzp,
                                      INT8_MIN, INT8_MAX);
        }
        memcpy(h, yt, n); /* the step's hidden values: the next step's recurrent input */
    }
    return CIM_OK;
}
