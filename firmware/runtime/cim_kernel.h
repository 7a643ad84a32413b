/* The interface between the layer-program executor and the kernels (one file per kernel, as TFLM's
 * reference kernels). The executor resolves tensor records into cim_tensor_t views and calls the
 * kernel registered for the op's code. Kernels use integer parameters only (no float on the MCU), except the
 * float32 paths of float models on a floating-point target (sram-fpcim: AVERAGE_POOL_2D, SOFTMAX). */
#ifndef CIM_KERNEL_H
#define CIM_KERNEL_H

#include <stdint.h>

#include "cimg_format.h"
#include "cimg_ops.h"

typedef struct {
    void *data;          /* arena or const pointer */
    int32_t dims[4];     /* extended to 4-D: rank-r shape right-aligned, leading dims 1 (TFLM RuntimeShape) */
    uint32_t nbytes;
    int32_t zero_point;
    uint8_t dtype;       /* CIMG_DTYPE_* */
    uint8_t rank;        /* original rank (<= 4) */
} cim_tensor_t;

typedef struct {
    uint16_t opcode;     /* CIM_OP_* */
    uint16_t index;      /* position in the layer program */
    uint8_t n_inputs, n_outputs, n_params, flags;
    const int32_t *params; /* CIM_P_<OP>_<NAME> indexes this */
} cim_op_t;

/* Returns 0 on success, a negative CIM_E_* code otherwise. */
typedef int (*cim_kernel_fn)(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                             cim_tensor_t *output);
/* Load-time check of an op's shapes, dtypes and parameters as the converter writes them (like TFLM's
 * Prepare): 0 when the kernel can run it. Ops added with their check in the kernel file define one. */
typedef int (*cim_check_fn)(const cim_op_t *op, const cim_tensor_t *const *inputs, int n_inputs,
                            const cim_tensor_t *output);

#define CIM_OK 0
#define CIM_E_UNSUPPORTED (-1)
#define CIM_E_SHAPE (-2)
#define CIM_E_PARAM (-3)

/* Shared fixed-point helpers with TFLM's reference arithmetic (cim_fixedpoint.c). */
/* The element width of two tensors that must share one type, int8 or int16 (TFLM's 16x8 mode): 1 or 2 bytes,
 * 0 when the types differ or are neither. */
static inline int cim_width_8_16(uint8_t a, uint8_t b) {
    return a != b ? 0 : (a == CIMG_DTYPE_INT8 ? 1 : (a == CIMG_DTYPE_INT16 ? 2 : 0));
}

int32_t cim_mbqm(int32_t x, int32_t quantized_multiplier, int32_t shift); /* MultiplyByQuantizedMultiplier */
int32_t cim_srdhm(int32_t a, int32_t b);                                    /* SaturatingRoundingDoublingHighMul */
int32_t cim_rdbpot(int32_t x, int32_t exponent);                           /* RoundingDivideByPOT */

#endif /* CIM_KERNEL_H */
