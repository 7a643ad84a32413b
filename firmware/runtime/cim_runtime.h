/* The firmware runtime: loads a weight image (.cimg, docs/image-format.md) and executes its layer
 * program (docs/runtime.md). The image is data: one firmware binary runs any converted model whose
 * activation arena fits CIM_ARENA_SIZE and whose ops were linked in (cim_dispatch.c).
 *
 * No heap: activations live in one static arena; weights, quantization records and constants are
 * read in place from the image (RAM or flash), which must stay valid and 4-byte aligned while loaded.
 * Not re-entrant: one image, one inference at a time. */
#ifndef CIM_RUNTIME_H
#define CIM_RUNTIME_H

#include <stdint.h>

#include "cim_kernel.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef CIM_ARENA_SIZE
#define CIM_ARENA_SIZE (128u * 1024u) /* bytes of activation RAM, -D overridable per board */
#endif
#ifndef CIM_RT_MAX_INPUTS
#define CIM_RT_MAX_INPUTS 8 /* most operand tensors of one op (CONCATENATION) */
#endif
#ifndef CIM_RT_MAX_IO
#define CIM_RT_MAX_IO 8 /* most model inputs, and outputs, of one image (the converter's MAX_IO) */
#endif

/* Error codes of cim_rt_load / cim_rt_invoke (negative; kernels' CIM_E_* are -1..-3). */
#define CIM_RT_E_NOT_LOADED (-10)
#define CIM_RT_E_ALIGN (-11)      /* image not 4-byte aligned */
#define CIM_RT_E_TRUNCATED (-12)  /* size smaller than the header, or than the header's total size */
#define CIM_RT_E_MAGIC (-13)
#define CIM_RT_E_VERSION (-14)    /* another major format version */
#define CIM_RT_E_SECTION (-15)    /* section table / section outside the image, or a section missing */
#define CIM_RT_E_CRC (-16)        /* section CRC32 mismatch */
#define CIM_RT_E_TENSOR (-17)     /* bad tensor record (dtype, rank, bytes outside arena/const) */
#define CIM_RT_E_PROGRAM (-18)    /* bad op record (size, tensor ids, param count) */
#define CIM_RT_E_OP_MISSING (-19) /* an op of the image is not linked into this firmware */
#define CIM_RT_E_MATRIX (-20)     /* bad matrix record or shapes that do not match it */
#define CIM_RT_E_ARENA (-21)      /* the image's arena does not fit CIM_ARENA_SIZE */
#define CIM_RT_E_HAL (-22)        /* CiM HAL init or op failed */

/* A matrix record resolved to pointers into the image. */
typedef struct {
    uint32_t kind;         /* CIMG_MATRIX_DENSE / CIMG_MATRIX_DEPTHWISE */
    uint32_t rows;         /* K: weights per column */
    uint32_t cols;         /* N: output columns */
    const int8_t *cells;   /* N columns of K int8 weights, column-major */
    const int32_t *quant;  /* N x {bias (in_zp folded in), multiplier, shift} */
    uint32_t tile0, n_tiles;
    const uint8_t *tiles;  /* first tile record (CIMG_TILE_RECORD_SIZE bytes each) */
} cim_matrix_t;

/* --- API of the console app ------------------------------------------------------------------ */
/* Parse and validate the image (magic, version, sizes, section CRC32s, tensors, program, matrices,
 * linked kernels, arena), then cim_hal_init(image, size). 0 or a CIM_RT_E_* code; on failure no
 * image is loaded. */
int cim_rt_load(const uint8_t *image, uint32_t size);
void cim_rt_unload(void);
int cim_rt_loaded(void);
/* Where the host writes the model input (int8 arena bytes); NULL when no image is loaded. A model may have
 * several inputs and outputs (the image's io records, in the model's order): cim_rt_input/cim_rt_output
 * are the first ones, cim_rt_input_at/cim_rt_output_at any (NULL and size 0 past the last). */
int8_t *cim_rt_input(uint32_t *size);
const int8_t *cim_rt_output(uint32_t *size);
uint32_t cim_rt_num_inputs(void);
uint32_t cim_rt_num_outputs(void);
int8_t *cim_rt_input_at(uint32_t index, uint32_t *size);
const int8_t *cim_rt_output_at(uint32_t index, uint32_t *size);
/* Set every state tensor (TFLite variable tensor, e.g. SVDF's memory) to its value at load: the next
 * invoke is a stream's first frame. Returns the state bytes (0 for a stateless image). */
uint32_t cim_rt_reset_state(void);
/* Arena bytes of the loaded image's state tensors (0 for a stateless image or none loaded). */
uint32_t cim_rt_state_bytes(void);
/* Run the layer program once. 0, or the first failing op's negative code (see cim_rt_last_op). */
int cim_rt_invoke(void);
/* Run ops [first, first + count) only (layer-by-layer validation, debugging). */
int cim_rt_invoke_ops(uint32_t first, uint32_t count);
/* Activation bytes the loaded image really uses: the end of its highest arena tensor as laid out at load
 * (offset + bytes, word aligned; in-place layers overlap their input), 0 when none is loaded. */
uint32_t cim_rt_arena_used(void);
/* Index of the op that last ran (or failed). */
uint32_t cim_rt_last_op(void);
const char *cim_rt_strerror(int rc);

/* Per-op hook for counters and traces: called before (phase 0) and after (phase 1) each op. */
typedef void (*cim_rt_op_hook_fn)(void *ctx, uint32_t op_index, uint16_t opcode, int is_cim, int phase);
void cim_rt_set_op_hook(cim_rt_op_hook_fn fn, void *ctx);
/* CiM ops executed since load (each CiM op counts once per invoke). */
uint32_t cim_rt_cim_ops_run(void);

/* --- API of the HAL backends (soft kernels, mailbox descriptors) -------------------------------- */
uint32_t cim_rt_num_ops(void);
uint32_t cim_rt_num_tensors(void);
uint32_t cim_rt_num_matrices(void);
/* Decode op `index`: fills *op (params point into the image) and *tids (inputs then outputs). */
int cim_rt_get_op(uint32_t index, cim_op_t *op, const uint16_t **tids);
/* A tensor record as a view (data points into the arena or the image's CONST section). */
int cim_rt_tensor(uint32_t tid, cim_tensor_t *t);
int cim_rt_matrix(uint32_t index, cim_matrix_t *m);
/* Arena base and the loaded image (NULL when none). */
int8_t *cim_rt_arena(void);
const uint8_t *cim_rt_image(uint32_t *size);

/* CRC-32 (IEEE, zlib's crc32) used for the section checks; exported for the console/tests. */
uint32_t cim_crc32(const uint8_t *data, uint32_t len, uint32_t crc);

/* --- kernel table (cim_dispatch.c, generated from contracts/ops.py) ------------------------------ */
/* The CPU kernel for an opcode, NULL when it was not linked into this build. */
cim_kernel_fn cim_dispatch_kernel(uint16_t opcode);
/* Whether the build can run an opcode (CPU kernel, in-place RESHAPE, or a CiM op). */
int cim_dispatch_supported(uint16_t opcode, int is_cim);
/* The expected parameter count of an opcode, -1 when unknown. */
int cim_dispatch_nparams(uint16_t opcode);
/* The load-time check an op's kernel file defines (cim_check_<op>), NULL when the runtime checks it itself. */
cim_check_fn cim_dispatch_check(uint16_t opcode);

#ifdef __cplusplus
}
#endif

#endif /* CIM_RUNTIME_H */
