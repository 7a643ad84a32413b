/* FULLY_CONNECTED on the soft CiM backend: each input row is one matrix-vector product. */
#include "cim_soft.h"

int cim_soft_fc(const cim_op_t *op, const cim_matrix_t *m, const cim_tensor_t *in, const cim_tensor_t *out) {
    if (in->dtype == CIMG_DTYPE_INT16) return cim_soft_fc_wide(op, m, in, out); /* 16x8 */
    const int32_t *p = op->params;
    const uint32_t K = m->rows, N = m->cols;
    if (K == 0 || N == 0 || in->nbytes % K != 0) return CIM_E_SHAPE;
    const uint32_t batches = in->nbytes / K;
    const int wide = out->dtype == CIMG_DTYPE_INT16; /* the LSTM's int16 gate pre-activations */
    if (out->nbytes != batches * N * (wide ? 2u : 1u)) return CIM_E_SHAPE;
    const cim_soft_act_t act = {p[CIM_P_FULLY_CONNECTED_OUT_ZP], p[CIM_P_FULLY_CONNECTED_ACT_MIN],
                                p[CIM_P_FULLY_CONNECTED_ACT_MAX]};
    const int8_t *x = (const int8_t *)in->data;
    if (wide) {
        int16_t *y = (int16_t *)out->data;
        for (uint32_t b = 0; b < batches; b++) cim_soft_matvec16(x + b * K, m, &act, y + b * N);
        return CIM_OK;
    }
    int8_t *y = (int8_t *)out->data;
    for (uint32_t b = 0; b < batches; b++) cim_soft_matvec(x + b * K, m, &act, y + b * N);
    return CIM_OK;
}
