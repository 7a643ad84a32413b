/* Opcode -> kernel table. Only the ops selected for this build (cim_ops_select.h) are referenced,
 * so the linker drops every other kernel. CiM ops run through the HAL (cim_hal_run_op); RESHAPE is
 * done by the executor (in place, or one memmove). */
#include <stddef.h>

#include "cim_ops_select.h"
#include "cim_runtime.h"

#if CIM_USE_AVERAGE_POOL_2D
int cim_kernel_average_pool_2d(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output);
#endif
#if CIM_USE_MAX_POOL_2D
int cim_kernel_max_pool_2d(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output);
#endif
#if CIM_USE_ADD
int cim_kernel_add(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output);
#endif
#if CIM_USE_MUL
int cim_kernel_mul(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output);
#endif
#if CIM_USE_SOFTMAX
int cim_kernel_softmax(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output);
#endif
#if CIM_USE_PAD
int cim_kernel_pad(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output);
#endif
#if CIM_USE_CONCATENATION
int cim_kernel_concatenation(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output);
#endif
#if CIM_USE_MEAN
int cim_kernel_mean(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output);
#endif
#if CIM_USE_LOGISTIC
int cim_kernel_logistic(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output);
#endif
#if CIM_USE_QUANTIZE
int cim_kernel_quantize(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output);
#endif
#if CIM_USE_SVDF
int cim_kernel_svdf(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output);
#endif
#if CIM_USE_DEQUANTIZE
int cim_kernel_dequantize(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs, cim_tensor_t *output);
#endif

cim_kernel_fn cim_dispatch_kernel(uint16_t opcode) {
    switch (opcode) {
#if CIM_USE_AVERAGE_POOL_2D
    case CIM_OP_AVERAGE_POOL_2D: return cim_kernel_average_pool_2d;
#endif
#if CIM_USE_MAX_POOL_2D
    case CIM_OP_MAX_POOL_2D: return cim_kernel_max_pool_2d;
#endif
#if CIM_USE_ADD
    case CIM_OP_ADD: return cim_kernel_add;
#endif
#if CIM_USE_MUL
    case CIM_OP_MUL: return cim_kernel_mul;
#endif
#if CIM_USE_SOFTMAX
    case CIM_OP_SOFTMAX: return cim_kernel_softmax;
#endif
#if CIM_USE_PAD
    case CIM_OP_PAD: return cim_kernel_pad;
#endif
#if CIM_USE_CONCATENATION
    case CIM_OP_CONCATENATION: return cim_kernel_concatenation;
#endif
#if CIM_USE_MEAN
    case CIM_OP_MEAN: return cim_kernel_mean;
#endif
#if CIM_USE_LOGISTIC
    case CIM_OP_LOGISTIC: return cim_kernel_logistic;
#endif
#if CIM_USE_QUANTIZE
    case CIM_OP_QUANTIZE: return cim_kernel_quantize;
#endif
#if CIM_USE_DEQUANTIZE
    case CIM_OP_DEQUANTIZE: return cim_kernel_dequantize;
#endif
#if CIM_USE_SVDF
    case CIM_OP_SVDF: return cim_kernel_svdf;
#endif
    default: return NULL;
    }
}

int cim_dispatch_supported(uint16_t opcode, int is_cim) {
    switch (opcode) {
    case CIM_OP_CONV_2D: return is_cim && CIM_USE_CONV_2D;
    case CIM_OP_DEPTHWISE_CONV_2D: return is_cim && CIM_USE_DEPTHWISE_CONV_2D;
    case CIM_OP_FULLY_CONNECTED: return is_cim && CIM_USE_FULLY_CONNECTED;
    case CIM_OP_RESHAPE: return !is_cim && CIM_USE_RESHAPE;
    default: return !is_cim && cim_dispatch_kernel(opcode) != NULL;
    }
}

int cim_dispatch_nparams(uint16_t opcode) {
    switch (opcode) {
    case CIM_OP_CONV_2D: return CIM_OP_CONV_2D_NPARAMS;
    case CIM_OP_DEPTHWISE_CONV_2D: return CIM_OP_DEPTHWISE_CONV_2D_NPARAMS;
    case CIM_OP_FULLY_CONNECTED: return CIM_OP_FULLY_CONNECTED_NPARAMS;
    case CIM_OP_AVERAGE_POOL_2D: return CIM_OP_AVERAGE_POOL_2D_NPARAMS;
    case CIM_OP_MAX_POOL_2D: return CIM_OP_MAX_POOL_2D_NPARAMS;
    case CIM_OP_ADD: return CIM_OP_ADD_NPARAMS;
    case CIM_OP_MUL: return CIM_OP_MUL_NPARAMS;
    case CIM_OP_RESHAPE: return CIM_OP_RESHAPE_NPARAMS;
    case CIM_OP_SOFTMAX: return CIM_OP_SOFTMAX_NPARAMS;
    case CIM_OP_PAD: return CIM_OP_PAD_NPARAMS;
    case CIM_OP_CONCATENATION: return CIM_OP_CONCATENATION_NPARAMS;
    case CIM_OP_MEAN: return CIM_OP_MEAN_NPARAMS;
    case CIM_OP_LOGISTIC: return CIM_OP_LOGISTIC_NPARAMS;
    case CIM_OP_QUANTIZE: return CIM_OP_QUANTIZE_NPARAMS;
    case CIM_OP_DEQUANTIZE: return CIM_OP_DEQUANTIZE_NPARAMS;
    case CIM_OP_SVDF: return CIM_OP_SVDF_NPARAMS;
    default: return -1;
    }
}
