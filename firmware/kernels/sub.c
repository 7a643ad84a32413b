/* SUB int8 or int16 (16x8): the difference of the two rescaled inputs (cim_addsub.h), with ADD's parameter layout. */
#include "cim_addsub.h"

/* The shared body reads ADD's parameter indices: the two layouts must stay one. */
_Static_assert(CIM_OP_SUB_NPARAMS == CIM_OP_ADD_NPARAMS && CIM_P_SUB_IN1_OFFSET == CIM_P_ADD_IN1_OFFSET &&
                   CIM_P_SUB_IN2_OFFSET == CIM_P_ADD_IN2_OFFSET && CIM_P_SUB_OUT_OFFSET == CIM_P_ADD_OUT_OFFSET &&
                   CIM_P_SUB_LEFT_SHIFT == CIM_P_ADD_LEFT_SHIFT && CIM_P_SUB_IN1_MULT == CIM_P_ADD_IN1_MULT &&
                   CIM_P_SUB_IN1_SHIFT == CIM_P_ADD_IN1_SHIFT && CIM_P_SUB_IN2_MULT == CIM_P_ADD_IN2_MULT &&
                   CIM_P_SUB_IN2_SHIFT == CIM_P_ADD_IN2_SHIFT && CIM_P_SUB_OUT_MULT == CIM_P_ADD_OUT_MULT &&
                   CIM_P_SUB_OUT_SHIFT == CIM_P_ADD_OUT_SHIFT && CIM_P_SUB_ACT_MIN == CIM_P_ADD_ACT_MIN &&
                   CIM_P_SUB_ACT_MAX == CIM_P_ADD_ACT_MAX,
               "SUB and ADD records share one parameter layout (contracts/ops.py)");

int cim_check_sub(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, const cim_tensor_t *output) {
    if (n_inputs != 2 || op->n_params != CIM_OP_SUB_NPARAMS) return CIM_E_PARAM;
    const cim_tensor_t *a = inputs[0], *b = inputs[1];
    const int width = cim_width_8_16(a->dtype, output->dtype);
    if (!width || b->dtype != a->dtype) return CIM_E_UNSUPPORTED;
    if (cim_bcast_check_binary(a, b, output) != CIM_OK) return CIM_E_SHAPE;
    const int32_t *p = op->params;
    if (width == 2) { /* 16x8: zero points 0, left_shift 15 */
        if (p[CIM_P_SUB_IN1_OFFSET] || p[CIM_P_SUB_IN2_OFFSET] || p[CIM_P_SUB_OUT_OFFSET] ||
            p[CIM_P_SUB_LEFT_SHIFT] != 15)
            return CIM_E_PARAM;
    } else if (p[CIM_P_SUB_IN1_OFFSET] < -127 || p[CIM_P_SUB_IN1_OFFSET] > 128 || p[CIM_P_SUB_IN2_OFFSET] < -127 ||
               p[CIM_P_SUB_IN2_OFFSET] > 128 || p[CIM_P_SUB_OUT_OFFSET] < -128 || p[CIM_P_SUB_OUT_OFFSET] > 127 ||
               p[CIM_P_SUB_LEFT_SHIFT] != 20) {
        return CIM_E_PARAM;
    }
    const int mults[3] = {CIM_P_SUB_IN1_MULT, CIM_P_SUB_IN2_MULT, CIM_P_SUB_OUT_MULT};
    const int shifts[3] = {CIM_P_SUB_IN1_SHIFT, CIM_P_SUB_IN2_SHIFT, CIM_P_SUB_OUT_SHIFT};
    for (int i = 0; i < 3; ++i)
        if (p[mults[i]] < 0 || p[shifts[i]] < -31 || p[shifts[i]] > 0) return CIM_E_PARAM;
    const int32_t lo = p[CIM_P_SUB_ACT_MIN], hi = p[CIM_P_SUB_ACT_MAX];
    const int32_t top = width == 2 ? 32767 : 127;
    return lo >= -top - 1 && hi <= top && lo <= hi ? CIM_OK : CIM_E_PARAM;
}

int cim_kernel_sub(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output) {
    return cim_addsub_run(op, inputs, n_inputs, output, 1);
}
