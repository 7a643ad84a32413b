/* Weight-image loader and layer-program executor (docs/runtime.md, docs/image-format.md).
 *
 * cim_rt_load checks everything the executor later relies on, so cim_rt_invoke runs without
 * re-validating: header, section table, per-section CRC32, tensor records inside the arena or the
 * CONST section, every op record (size, tensor ids, parameter count, linked kernel), matrix records
 * inside CELLS/QUANT and consistent with the op's shapes, and the arena size. Nothing is copied:
 * records are read in place from the image. */
#include "cim_runtime.h"

#include <stddef.h>
#include <string.h>

#include "cim_hal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the weight image is little-endian; this runtime reads it in place"
#endif

/* Record field offsets are CIMG_<RECORD>_<FIELD>_OFF from cimg_format.h, generated from the one
 * declaration in contracts/image_format.py (docs/contracts.md). */
#define T_DTYPE CIMG_TENSOR_DTYPE_OFF
#define T_RANK CIMG_TENSOR_RANK_OFF
#define T_STORAGE CIMG_TENSOR_STORAGE_OFF
#define T_DIMS CIMG_TENSOR_DIMS_OFF
#define T_OFFSET CIMG_TENSOR_OFFSET_OFF
#define T_NBYTES CIMG_TENSOR_NBYTES_OFF
#define T_ZP CIMG_TENSOR_ZERO_POINT_OFF
#define T_FLAGS CIMG_TENSOR_FLAGS_OFF

static int8_t arena[CIM_ARENA_SIZE] __attribute__((aligned(16)));

static struct {
    const uint8_t *image;
    uint32_t size;
    const uint8_t *tensors, *program, *matrices, *tiles, *cells, *quant, *cnst, *io;
    uint32_t program_size, matrices_size, tiles_size, cells_size, quant_size, const_size, io_size;
    uint32_t n_tensors, n_ops, n_matrices, arena_size, input, output;
    uint32_t n_inputs, n_outputs;                            /* model edges, from the io records */
    uint16_t inputs[CIM_RT_MAX_IO], outputs[CIM_RT_MAX_IO];
    /* decode cache: cim_rt_get_op(i) is O(1) for the op the executor is running */
    uint32_t cur_index, cur_offset;
    uint32_t last_op, cim_ops_run;
    cim_rt_op_hook_fn hook;
    void *hook_ctx;
} rt;

static inline uint32_t rd32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, __builtin_assume_aligned(p, 4), 4);
    return v;
}
static inline uint16_t rd16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, __builtin_assume_aligned(p, 2), 2);
    return v;
}

/* --- CRC-32 (zlib polynomial, reflected), 16-entry nibble table: 64 bytes of rodata ------------ */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t cim_crc32(const uint8_t *data, uint32_t len, uint32_t crc) {
    crc = ~crc;
    for (uint32_t i = 0; i < len; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return ~crc;
}

/* --- records ---------------------------------------------------------------------------------- */
static uint32_t dtype_size(uint8_t dt) {
    switch (dt) {
    case CIMG_DTYPE_INT8: case CIMG_DTYPE_UINT8: case CIMG_DTYPE_BOOL: return 1;
    case CIMG_DTYPE_INT16: return 2;
    case CIMG_DTYPE_INT32: case CIMG_DTYPE_FLOAT32: return 4;
    case CIMG_DTYPE_INT64: return 8;
    default: return 0;
    }
}

static const uint8_t *tensor_rec(uint32_t tid) { return rt.tensors + tid * CIMG_TENSOR_RECORD_SIZE; }

static void view(uint32_t tid, cim_tensor_t *t) {
    const uint8_t *r = tensor_rec(tid);
    const uint8_t rank = r[T_RANK];
    t->dtype = r[T_DTYPE];
    t->rank = rank;
    for (int i = 0; i < 4; i++) t->dims[i] = 1;
    for (uint32_t i = 0; i < rank; i++) t->dims[4 - rank + i] = (int32_t)rd32(r + T_DIMS + 4 * i);
    t->nbytes = rd32(r + T_NBYTES);
    t->zero_point = (int32_t)rd32(r + T_ZP);
    const uint32_t off = rd32(r + T_OFFSET);
    t->data = r[T_STORAGE] == CIMG_STORE_CONST ? (void *)(uintptr_t)(rt.cnst + off) : (void *)(arena + off);
}

static int check_tensor(uint32_t tid, uint32_t n_tensors, const uint8_t *tensors) {
    if (tid >= n_tensors) return CIM_RT_E_TENSOR;
    const uint8_t *r = tensors + tid * CIMG_TENSOR_RECORD_SIZE;
    const uint32_t es = dtype_size(r[T_DTYPE]);
    if (es == 0 || r[T_RANK] > CIMG_MAX_RANK) return CIM_RT_E_TENSOR;
    uint64_t n = es;
    for (uint32_t i = 0; i < r[T_RANK]; i++) {
        const int32_t d = (int32_t)rd32(r + T_DIMS + 4 * i);
        if (d < 1) return CIM_RT_E_TENSOR; /* kernels loop over dims and divide by them */
        n *= (uint64_t)d;
        if (n > 0xFFFFFFFFu) return CIM_RT_E_TENSOR;
    }
    const uint32_t nbytes = rd32(r + T_NBYTES), off = rd32(r + T_OFFSET);
    if (n != nbytes) return CIM_RT_E_TENSOR;
    uint32_t limit;
    if (r[T_STORAGE] == CIMG_STORE_ARENA) {
        limit = rt.arena_size;
        if (off % 4u != 0) return CIM_RT_E_TENSOR; /* int32 operands and word copies need it */
    } else if (r[T_STORAGE] == CIMG_STORE_CONST) {
        limit = rt.const_size;
        if (off % es != 0) return CIM_RT_E_TENSOR;
    } else {
        return CIM_RT_E_TENSOR;
    }
    /* only the state flag is defined, and only arena tensors carry state */
    if ((r[T_FLAGS] & ~CIMG_TENSOR_STATE) != 0 ||
        ((r[T_FLAGS] & CIMG_TENSOR_STATE) && r[T_STORAGE] != CIMG_STORE_ARENA))
        return CIM_RT_E_TENSOR;
    if (off > limit || nbytes > limit - off) return CIM_RT_E_TENSOR;
    return 0;
}

/* Decode the op record at byte `pos` of the program; checks it lies inside the program. */
static int decode(uint32_t pos, uint32_t index, cim_op_t *op, const uint16_t **tids, uint32_t *size) {
    if (pos + CIMG_OP_HEADER_SIZE > rt.program_size) return CIM_RT_E_PROGRAM;
    const uint8_t *h = rt.program + pos;
    op->opcode = rd16(h + CIMG_OPH_OPCODE_OFF);
    const uint32_t sz = rd16(h + CIMG_OPH_SIZE_OFF);
    op->n_inputs = h[CIMG_OPH_N_INPUTS_OFF];
    op->n_outputs = h[CIMG_OPH_N_OUTPUTS_OFF];
    op->n_params = h[CIMG_OPH_N_PARAMS_OFF];
    op->flags = h[CIMG_OPH_FLAGS_OFF];
    op->index = (uint16_t)index;
    const uint32_t nt = (uint32_t)op->n_inputs + op->n_outputs;
    const uint32_t tid_bytes = (2u * nt + 3u) & ~3u;
    if (sz % 4u != 0 || sz != CIMG_OP_HEADER_SIZE + tid_bytes + 4u * op->n_params || sz > rt.program_size - pos)
        return CIM_RT_E_PROGRAM;
    *tids = (const uint16_t *)(const void *)(h + CIMG_OP_HEADER_SIZE);
    op->params = (const int32_t *)(const void *)(h + CIMG_OP_HEADER_SIZE + tid_bytes);
    *size = sz;
    return 0;
}

static void matrix_view(uint32_t index, cim_matrix_t *m) {
    const uint8_t *r = rt.matrices + index * CIMG_MATRIX_RECORD_SIZE;
    m->kind = rd32(r + CIMG_MATRIX_KIND_OFF);
    m->rows = rd32(r + CIMG_MATRIX_ROWS_OFF);
    m->cols = rd32(r + CIMG_MATRIX_COLS_OFF);
    m->cells = (const int8_t *)(rt.cells + rd32(r + CIMG_MATRIX_CELLS_OFFSET_OFF));
    m->quant = (const int32_t *)(const void *)(rt.quant + rd32(r + CIMG_MATRIX_QUANT_OFFSET_OFF));
    m->tile0 = rd32(r + CIMG_MATRIX_FIRST_TILE_OFF);
    m->n_tiles = rd32(r + CIMG_MATRIX_N_TILES_OFF);
    m->tiles = rt.tiles + m->tile0 * CIMG_TILE_RECORD_SIZE;
}

static int check_matrix(uint32_t index) {
    if (index >= rt.n_matrices) return CIM_RT_E_MATRIX;
    const uint8_t *r = rt.matrices + index * CIMG_MATRIX_RECORD_SIZE;
    const uint32_t rows = rd32(r + CIMG_MATRIX_ROWS_OFF), cols = rd32(r + CIMG_MATRIX_COLS_OFF);
    const uint32_t coff = rd32(r + CIMG_MATRIX_CELLS_OFFSET_OFF), qoff = rd32(r + CIMG_MATRIX_QUANT_OFFSET_OFF);
    const uint32_t t0 = rd32(r + CIMG_MATRIX_FIRST_TILE_OFF), nt = rd32(r + CIMG_MATRIX_N_TILES_OFF);
    const uint64_t ncells = (uint64_t)rows * cols;
    if (rows == 0 || cols == 0 || coff > rt.cells_size || ncells > rt.cells_size - coff) return CIM_RT_E_MATRIX;
    if (qoff % 4u != 0 || qoff > rt.quant_size || (uint64_t)cols * CIMG_QUANT_RECORD_SIZE > rt.quant_size - qoff)
        return CIM_RT_E_MATRIX;
    if (nt == 0 || (uint64_t)t0 + nt > rt.tiles_size / CIMG_TILE_RECORD_SIZE) return CIM_RT_E_MATRIX;
    const uint32_t kind = rd32(r + CIMG_MATRIX_KIND_OFF);
    if (kind != CIMG_MATRIX_DENSE && kind != CIMG_MATRIX_DEPTHWISE) return CIM_RT_E_MATRIX;
    /* tiles inside the matrix, adding up to it (the mailbox HAL hands them to the coprocessor) */
    uint64_t covered = 0;
    for (uint32_t i = 0; i < nt; i++) {
        const uint8_t *t = rt.tiles + (t0 + i) * CIMG_TILE_RECORD_SIZE;
        const uint32_t k0 = rd32(t + CIMG_TILE_K0_OFF), kl = rd32(t + CIMG_TILE_K_LEN_OFF);
        const uint32_t n0 = rd32(t + CIMG_TILE_N0_OFF), nl = rd32(t + CIMG_TILE_N_LEN_OFF);
        if (rd16(t + CIMG_TILE_MATRIX_OFF) != index || kl == 0 || nl == 0 || k0 > rows || kl > rows - k0 || n0 > cols || nl > cols - n0)
            return CIM_RT_E_MATRIX;
        if (kind == CIMG_MATRIX_DEPTHWISE && (k0 != 0 || kl != rows)) return CIM_RT_E_MATRIX;
        covered += (uint64_t)kl * nl;
    }
    if (covered != ncells) return CIM_RT_E_MATRIX;
    const int32_t *q = (const int32_t *)(const void *)(rt.quant + qoff);
    for (uint32_t c = 0; c < cols; c++) {
        /* the kernels' rounding shortcut needs multiplier >= 0; shifts as TFLM produces them */
        if (q[3 * c + 1] < 0 || q[3 * c + 2] < -31 || q[3 * c + 2] > 30) return CIM_RT_E_MATRIX;
    }
    return 0;
}

static int tensor_is(uint32_t tid, uint8_t storage, uint8_t dtype) {
    const uint8_t *r = tensor_rec(tid);
    return r[T_STORAGE] == storage && (dtype == 0 || r[T_DTYPE] == dtype);
}

/* --- op checks: what the kernels take for granted (docs/image-format.md, "Validation") ------------ */
#define IN_RANGE(v, lo, hi) ((int64_t)(v) >= (int64_t)(lo) && (int64_t)(v) <= (int64_t)(hi))
#define I8(v) IN_RANGE(v, -128, 127)

static int same_dims(const cim_tensor_t *a, const cim_tensor_t *b) {
    return a->rank == b->rank && memcmp(a->dims, b->dims, sizeof a->dims) == 0;
}

/* Output size and padding of one window axis are TFLite's SAME or VALID ones. */
static int window_ok(int32_t size, int32_t out, int32_t k, int32_t stride, int32_t dil, int32_t pad) {
    if (!IN_RANGE(k, 1, 65536) || !IN_RANGE(stride, 1, 65536) || !IN_RANGE(dil, 1, 65536) || !IN_RANGE(pad, 0, 65536))
        return 0;
    const int64_t eff = (int64_t)(k - 1) * dil + 1;
    const int64_t same_out = ((int64_t)size + stride - 1) / stride;
    int64_t same_pad = (same_out - 1) * stride + eff - size;
    same_pad = same_pad > 0 ? same_pad / 2 : 0;
    const int64_t valid_num = (int64_t)size + stride - eff;
    const int64_t valid_out = valid_num >= 0 ? valid_num / stride : -1;
    return (out == same_out && pad == same_pad) || (out == valid_out && pad == 0);
}

static int requant_ok(int32_t mult, int32_t shift) { return mult >= 0 && IN_RANGE(shift, -31, 30); }

static int act_ok(int32_t lo, int32_t hi) { return I8(lo) && I8(hi) && lo <= hi; }

/* Shapes and parameters of a CiM op against its matrix record. */
/* TFLM's 16x8 mode: int16 in and out, zero points 0, an int16 activation range, shifts below 8 (the 64-bit
 * MultiplyByQuantizedMultiplier's range). The in_zp, out_zp, act_min, act_max params end every CiM record. */
static int wide_ok(const cim_op_t *op, const cim_matrix_t *m) {
    const int32_t *tail = op->params + op->n_params - 4;
    if (tail[0] != 0 || tail[1] != 0 || !IN_RANGE(tail[2], INT16_MIN, tail[3]) || !IN_RANGE(tail[3], INT16_MIN, INT16_MAX))
        return 0;
    for (uint32_t c = 0; c < m->cols; c++)
        if (m->quant[3 * c + 2] >= 8) return 0;
    return 1;
}

static int check_cim_op(const cim_op_t *op, const uint16_t *tids) {
    /* int8 out; a FULLY_CONNECTED may write int16 (the LSTM's gate pre-activations, zero point 0); an int16
     * input (16x8) writes int16 */
    const int wide_in = tensor_is(tids[0], CIMG_STORE_ARENA, CIMG_DTYPE_INT16);
    const int wide = (wide_in || op->opcode == CIM_OP_FULLY_CONNECTED) &&
                     tensor_is(tids[1], CIMG_STORE_ARENA, CIMG_DTYPE_INT16);
    if (op->n_inputs != 1 || !(wide_in || tensor_is(tids[0], CIMG_STORE_ARENA, CIMG_DTYPE_INT8)) ||
        !(wide || tensor_is(tids[1], CIMG_STORE_ARENA, CIMG_DTYPE_INT8)) || (wide_in && !wide))
        return CIM_RT_E_PROGRAM;
    const uint32_t mi = (uint32_t)op->params[0];
    int rc = check_matrix(mi);
    if (rc != 0) return rc;
    cim_matrix_t m;
    matrix_view(mi, &m);
    cim_tensor_t in, out;
    view(tids[0], &in);
    view(tids[1], &out);
    const int32_t *p = op->params;
    if (wide_in) {
        if (!wide_ok(op, &m)) return CIM_RT_E_PROGRAM;
        if (op->opcode == CIM_OP_FULLY_CONNECTED)
            return m.kind == CIMG_MATRIX_DENSE && in.nbytes % (2u * m.rows) == 0 &&
                           (uint64_t)out.nbytes == (uint64_t)(in.nbytes / m.rows) * m.cols
                       ? 0
                       : CIM_RT_E_MATRIX;
    }
    switch (op->opcode) {
    case CIM_OP_FULLY_CONNECTED:
        if (m.kind != CIMG_MATRIX_DENSE || !I8(p[CIM_P_FULLY_CONNECTED_IN_ZP]) ||
            (wide ? p[CIM_P_FULLY_CONNECTED_OUT_ZP] != 0 ||
                        !IN_RANGE(p[CIM_P_FULLY_CONNECTED_ACT_MIN], INT16_MIN, p[CIM_P_FULLY_CONNECTED_ACT_MAX]) ||
                        !IN_RANGE(p[CIM_P_FULLY_CONNECTED_ACT_MAX], INT16_MIN, INT16_MAX)
                  : !I8(p[CIM_P_FULLY_CONNECTED_OUT_ZP]) ||
                        !act_ok(p[CIM_P_FULLY_CONNECTED_ACT_MIN], p[CIM_P_FULLY_CONNECTED_ACT_MAX])))
            return CIM_RT_E_PROGRAM;
        if (in.nbytes % m.rows != 0 ||
            (uint64_t)out.nbytes != (uint64_t)(in.nbytes / m.rows) * m.cols * (wide ? 2u : 1u))
            return CIM_RT_E_MATRIX;
        return 0;
    case CIM_OP_CONV_2D:
        if (m.kind != CIMG_MATRIX_DENSE || !I8(p[CIM_P_CONV_2D_IN_ZP]) || !I8(p[CIM_P_CONV_2D_OUT_ZP]) ||
            (!wide_in && !act_ok(p[CIM_P_CONV_2D_ACT_MIN], p[CIM_P_CONV_2D_ACT_MAX])) ||
            !window_ok(in.dims[1], out.dims[1], p[CIM_P_CONV_2D_KERNEL_H], p[CIM_P_CONV_2D_STRIDE_H],
                       p[CIM_P_CONV_2D_DIL_H], p[CIM_P_CONV_2D_PAD_TOP]) ||
            !window_ok(in.dims[2], out.dims[2], p[CIM_P_CONV_2D_KERNEL_W], p[CIM_P_CONV_2D_STRIDE_W],
                       p[CIM_P_CONV_2D_DIL_W], p[CIM_P_CONV_2D_PAD_LEFT]))
            return CIM_RT_E_PROGRAM;
        if (in.rank != 4 || out.rank != 4 || in.dims[0] != out.dims[0] || (uint32_t)out.dims[3] != m.cols ||
            (uint64_t)m.rows != (uint64_t)p[CIM_P_CONV_2D_KERNEL_H] * (uint64_t)p[CIM_P_CONV_2D_KERNEL_W] *
                                    (uint64_t)in.dims[3])
            return CIM_RT_E_MATRIX;
        return 0;
    case CIM_OP_DEPTHWISE_CONV_2D:
        if (m.kind != CIMG_MATRIX_DEPTHWISE || !I8(p[CIM_P_DEPTHWISE_CONV_2D_IN_ZP]) ||
            !I8(p[CIM_P_DEPTHWISE_CONV_2D_OUT_ZP]) ||
            (!wide_in && !act_ok(p[CIM_P_DEPTHWISE_CONV_2D_ACT_MIN], p[CIM_P_DEPTHWISE_CONV_2D_ACT_MAX])) ||
            !IN_RANGE(p[CIM_P_DEPTHWISE_CONV_2D_DEPTH_MULT], 1, 65536) ||
            !window_ok(in.dims[1], out.dims[1], p[CIM_P_DEPTHWISE_CONV_2D_KERNEL_H],
                       p[CIM_P_DEPTHWISE_CONV_2D_STRIDE_H], p[CIM_P_DEPTHWISE_CONV_2D_DIL_H],
                       p[CIM_P_DEPTHWISE_CONV_2D_PAD_TOP]) ||
            !window_ok(in.dims[2], out.dims[2], p[CIM_P_DEPTHWISE_CONV_2D_KERNEL_W],
                       p[CIM_P_DEPTHWISE_CONV_2D_STRIDE_W], p[CIM_P_DEPTHWISE_CONV_2D_DIL_W],
                       p[CIM_P_DEPTHWISE_CONV_2D_PAD_LEFT]))
            return CIM_RT_E_PROGRAM;
        if (in.rank != 4 || out.rank != 4 || in.dims[0] != out.dims[0] || (uint32_t)out.dims[3] != m.cols ||
            (int64_t)out.dims[3] != (int64_t)in.dims[3] * p[CIM_P_DEPTHWISE_CONV_2D_DEPTH_MULT] ||
            (uint64_t)m.rows != (uint64_t)p[CIM_P_DEPTHWISE_CONV_2D_KERNEL_H] *
                                    (uint64_t)p[CIM_P_DEPTHWISE_CONV_2D_KERNEL_W])
            return CIM_RT_E_MATRIX;
        return 0;
    default:
        return CIM_RT_E_PROGRAM;
    }
}

/* Output of a broadcasting binary op: each 4-D dim is the inputs' common extent (1 broadcasts). */
static int broadcast_ok(const cim_tensor_t *a, const cim_tensor_t *b, const cim_tensor_t *out) {
    if (out->rank != (a->rank > b->rank ? a->rank : b->rank)) return 0;
    for (int d = 0; d < 4; d++) {
        const int32_t x = a->dims[d], y = b->dims[d], o = out->dims[d];
        if ((x != o && x != 1) || (y != o && y != 1) || o != (x > y ? x : y)) return 0;
    }
    return 1;
}

/* Shapes, dtypes and parameters of a CPU op, as the converter writes them. */
static int kernel_file_check(const cim_op_t *op, const cim_tensor_t *in, const cim_tensor_t *out) {
    const cim_tensor_t *ins[CIM_RT_MAX_INPUTS];
    for (uint32_t i = 0; i < op->n_inputs; i++) ins[i] = &in[i];
    const cim_check_fn check = cim_dispatch_check(op->opcode);
    return check != NULL && check(op, ins, op->n_inputs, out) == 0 ? 0 : CIM_RT_E_PROGRAM;
}

static int check_cpu_op(const cim_op_t *op, const uint16_t *tids) {
    cim_tensor_t in[CIM_RT_MAX_INPUTS], out;
    for (uint32_t i = 0; i < op->n_inputs; i++) view(tids[i], &in[i]);
    view(tids[op->n_inputs], &out);
    const int32_t *p = op->params;
    const int one_in = op->n_inputs == 1;
    int int8_io = out.dtype == CIMG_DTYPE_INT8;
    for (uint32_t i = 0; i < op->n_inputs; i++) int8_io = int8_io && in[i].dtype == CIMG_DTYPE_INT8;
    switch (op->opcode) {
    case CIM_OP_RESHAPE:
        return one_in && in[0].dtype == out.dtype && in[0].nbytes == out.nbytes ? 0 : CIM_RT_E_PROGRAM;
    case CIM_OP_DEQUANTIZE:
        return one_in && int8_io && same_dims(&in[0], &out) ? 0 : CIM_RT_E_PROGRAM;
    case CIM_OP_AVERAGE_POOL_2D:
    case CIM_OP_MAX_POOL_2D: { /* same parameter layout; MAX_POOL_2D also int16 (16x8) */
        const int wide = op->opcode == CIM_OP_MAX_POOL_2D && one_in && in[0].dtype == CIMG_DTYPE_INT16 &&
                         out.dtype == CIMG_DTYPE_INT16;
        if (!one_in || !(int8_io || wide) || in[0].rank != 4 || out.rank != 4 || in[0].dims[0] != out.dims[0] ||
            in[0].dims[3] != out.dims[3] ||
            !window_ok(in[0].dims[1], out.dims[1], p[CIM_P_MAX_POOL_2D_FILTER_H], p[CIM_P_MAX_POOL_2D_STRIDE_H], 1,
                       p[CIM_P_MAX_POOL_2D_PAD_TOP]) ||
            !window_ok(in[0].dims[2], out.dims[2], p[CIM_P_MAX_POOL_2D_FILTER_W], p[CIM_P_MAX_POOL_2D_STRIDE_W], 1,
                       p[CIM_P_MAX_POOL_2D_PAD_LEFT]) ||
            !(wide ? IN_RANGE(p[CIM_P_MAX_POOL_2D_ACT_MIN], INT16_MIN, p[CIM_P_MAX_POOL_2D_ACT_MAX]) &&
                         IN_RANGE(p[CIM_P_MAX_POOL_2D_ACT_MAX], INT16_MIN, INT16_MAX)
                   : act_ok(p[CIM_P_MAX_POOL_2D_ACT_MIN], p[CIM_P_MAX_POOL_2D_ACT_MAX])))
            return CIM_RT_E_PROGRAM;
        return 0;
    }
    case CIM_OP_ADD:
        if (op->n_inputs == 2 && in[0].dtype == CIMG_DTYPE_INT16 && in[1].dtype == CIMG_DTYPE_INT16 &&
            out.dtype == CIMG_DTYPE_INT16) /* 16x8: offsets 0, left_shift 15, an int16 activation range */
            return broadcast_ok(&in[0], &in[1], &out) && p[CIM_P_ADD_IN1_OFFSET] == 0 &&
                           p[CIM_P_ADD_IN2_OFFSET] == 0 && p[CIM_P_ADD_OUT_OFFSET] == 0 &&
                           p[CIM_P_ADD_LEFT_SHIFT] == 15 && requant_ok(p[CIM_P_ADD_IN1_MULT], p[CIM_P_ADD_IN1_SHIFT]) &&
                           requant_ok(p[CIM_P_ADD_IN2_MULT], p[CIM_P_ADD_IN2_SHIFT]) &&
                           requant_ok(p[CIM_P_ADD_OUT_MULT], p[CIM_P_ADD_OUT_SHIFT]) &&
                           IN_RANGE(p[CIM_P_ADD_ACT_MIN], INT16_MIN, p[CIM_P_ADD_ACT_MAX]) &&
                           IN_RANGE(p[CIM_P_ADD_ACT_MAX], INT16_MIN, INT16_MAX)
                       ? 0
                       : CIM_RT_E_PROGRAM;
        if (op->n_inputs != 2 || !int8_io || !broadcast_ok(&in[0], &in[1], &out) ||
            !IN_RANGE(p[CIM_P_ADD_IN1_OFFSET], -127, 128) || !IN_RANGE(p[CIM_P_ADD_IN2_OFFSET], -127, 128) ||
            !I8(p[CIM_P_ADD_OUT_OFFSET]) || !IN_RANGE(p[CIM_P_ADD_LEFT_SHIFT], 0, 20) ||
            !requant_ok(p[CIM_P_ADD_IN1_MULT], p[CIM_P_ADD_IN1_SHIFT]) ||
            !requant_ok(p[CIM_P_ADD_IN2_MULT], p[CIM_P_ADD_IN2_SHIFT]) ||
            !requant_ok(p[CIM_P_ADD_OUT_MULT], p[CIM_P_ADD_OUT_SHIFT]) ||
            !act_ok(p[CIM_P_ADD_ACT_MIN], p[CIM_P_ADD_ACT_MAX]))
            return CIM_RT_E_PROGRAM;
        return 0;
    case CIM_OP_MUL:
        if (op->n_inputs == 2 && in[0].dtype == CIMG_DTYPE_INT16 && in[1].dtype == CIMG_DTYPE_INT16 &&
            out.dtype == CIMG_DTYPE_INT16) /* 16x8: offsets 0, an int16 activation range */
            return broadcast_ok(&in[0], &in[1], &out) && p[CIM_P_MUL_IN1_OFFSET] == 0 &&
                           p[CIM_P_MUL_IN2_OFFSET] == 0 && p[CIM_P_MUL_OUT_OFFSET] == 0 &&
                           requant_ok(p[CIM_P_MUL_OUT_MULT], p[CIM_P_MUL_OUT_SHIFT]) &&
                           IN_RANGE(p[CIM_P_MUL_ACT_MIN], INT16_MIN, p[CIM_P_MUL_ACT_MAX]) &&
                           IN_RANGE(p[CIM_P_MUL_ACT_MAX], INT16_MIN, INT16_MAX)
                       ? 0
                       : CIM_RT_E_PROGRAM;
        if (op->n_inputs != 2 || !int8_io || !broadcast_ok(&in[0], &in[1], &out) ||
            !IN_RANGE(p[CIM_P_MUL_IN1_OFFSET], -127, 128) || !IN_RANGE(p[CIM_P_MUL_IN2_OFFSET], -127, 128) ||
            !I8(p[CIM_P_MUL_OUT_OFFSET]) || !requant_ok(p[CIM_P_MUL_OUT_MULT], p[CIM_P_MUL_OUT_SHIFT]) ||
            !act_ok(p[CIM_P_MUL_ACT_MIN], p[CIM_P_MUL_ACT_MAX]))
            return CIM_RT_E_PROGRAM;
        return 0;
    case CIM_OP_SOFTMAX:
        if (!one_in || in[0].dtype != CIMG_DTYPE_INT8 ||
            (out.dtype != CIMG_DTYPE_INT8 && out.dtype != CIMG_DTYPE_INT16) || !same_dims(&in[0], &out) ||
            p[CIM_P_SOFTMAX_INPUT_MULT] < 0 ||
            !IN_RANGE(p[CIM_P_SOFTMAX_INPUT_LEFT_SHIFT], 0, 30) || p[CIM_P_SOFTMAX_DIFF_MIN] > 0)
            return CIM_RT_E_PROGRAM;
        return 0;
    case CIM_OP_PAD: {
        const int wide = one_in && in[0].dtype == CIMG_DTYPE_INT16 && out.dtype == CIMG_DTYPE_INT16;
        if (!one_in || !(int8_io || wide) || in[0].rank != out.rank ||
            !(wide ? IN_RANGE(p[CIM_P_PAD_PAD_VALUE], INT16_MIN, INT16_MAX) : I8(p[CIM_P_PAD_PAD_VALUE])))
            return CIM_RT_E_PROGRAM;
        const int lead = 4 - (int)in[0].rank;
        for (int d = 0; d < 4; d++) {
            const int32_t b = p[CIM_P_PAD_BEFORE0 + d], a = p[CIM_P_PAD_AFTER0 + d];
            if (!IN_RANGE(b, 0, 1 << 24) || !IN_RANGE(a, 0, 1 << 24) || (d <= lead && (a || b)) ||
                (int64_t)in[0].dims[d] + b + a != out.dims[d])
                return CIM_RT_E_PROGRAM;
        }
        return 0;
    }
    case CIM_OP_CONCATENATION: {
        const int32_t axis = p[CIM_P_CONCATENATION_AXIS];
        int int16_io = out.dtype == CIMG_DTYPE_INT16; /* 16x8 */
        for (uint32_t i = 0; i < op->n_inputs; i++) int16_io = int16_io && in[i].dtype == CIMG_DTYPE_INT16;
        if (!(int8_io || int16_io) || !IN_RANGE(axis, 1, (int32_t)out.rank - 1)) return CIM_RT_E_PROGRAM;
        const int a4 = axis + 4 - (int)out.rank;
        int64_t total = 0;
        for (uint32_t i = 0; i < op->n_inputs; i++) {
            if (in[i].rank != out.rank) return CIM_RT_E_PROGRAM;
            for (int d = 0; d < 4; d++)
                if (d != a4 && in[i].dims[d] != out.dims[d]) return CIM_RT_E_PROGRAM;
            total += in[i].dims[a4];
        }
        return total == out.dims[a4] ? 0 : CIM_RT_E_PROGRAM;
    }
    case CIM_OP_MEAN: {
        const int32_t mask = p[CIM_P_MEAN_AXIS_MASK];
        const uint32_t rank = in[0].rank;
        if (!one_in || !int8_io || rank < 1 || !IN_RANGE(mask, 0, (1 << rank) - 1) ||
            !IN_RANGE(p[CIM_P_MEAN_KEEP_DIMS], 0, 1) || !I8(p[CIM_P_MEAN_IN_ZP]) || !I8(p[CIM_P_MEAN_OUT_ZP]) ||
            !requant_ok(p[CIM_P_MEAN_MULT], p[CIM_P_MEAN_SHIFT]))
            return CIM_RT_E_PROGRAM;
        uint64_t kept = 1;
        for (uint32_t a = 0; a < rank; a++)
            if (!((mask >> a) & 1)) kept *= (uint32_t)in[0].dims[4 - rank + a];
        return kept == out.nbytes ? 0 : CIM_RT_E_PROGRAM;
    }
    case CIM_OP_LOGISTIC:
        if (one_in && in[0].dtype == CIMG_DTYPE_INT16 && out.dtype == CIMG_DTYPE_INT16) /* 16x8 */
            return same_dims(&in[0], &out) && p[CIM_P_LOGISTIC_IN_ZP] == 0 &&
                           p[CIM_P_LOGISTIC_INPUT_RANGE_RADIUS] == 0 && IN_RANGE(p[CIM_P_LOGISTIC_INPUT_MULT], 0, 32767) &&
                           IN_RANGE(p[CIM_P_LOGISTIC_INPUT_LEFT_SHIFT], 0, 31)
                       ? 0
                       : CIM_RT_E_PROGRAM;
        if (!one_in || !int8_io || !same_dims(&in[0], &out) || !I8(p[CIM_P_LOGISTIC_IN_ZP]) ||
            p[CIM_P_LOGISTIC_INPUT_RANGE_RADIUS] < 0 ||
            !requant_ok(p[CIM_P_LOGISTIC_INPUT_MULT], p[CIM_P_LOGISTIC_INPUT_LEFT_SHIFT]))
            return CIM_RT_E_PROGRAM;
        return 0;
    case CIM_OP_QUANTIZE: {
        /* int8 -> int8, or int16 -> int8 / int16 / int32 */
        const int wide_in = in[0].dtype == CIMG_DTYPE_INT16;
        if (!one_in || !same_dims(&in[0], &out) || !requant_ok(p[CIM_P_QUANTIZE_MULT], p[CIM_P_QUANTIZE_SHIFT]))
            return CIM_RT_E_PROGRAM;
        if (!(int8_io && I8(p[CIM_P_QUANTIZE_IN_ZP]) && I8(p[CIM_P_QUANTIZE_OUT_ZP])) &&
            !(wide_in && IN_RANGE(p[CIM_P_QUANTIZE_IN_ZP], INT16_MIN, INT16_MAX) &&
              ((out.dtype == CIMG_DTYPE_INT8 && I8(p[CIM_P_QUANTIZE_OUT_ZP])) ||
               (out.dtype == CIMG_DTYPE_INT16 && IN_RANGE(p[CIM_P_QUANTIZE_OUT_ZP], INT16_MIN, INT16_MAX)) ||
               out.dtype == CIMG_DTYPE_INT32)))
            return CIM_RT_E_PROGRAM;
        return 0;
    }
    case CIM_OP_SVDF: {
        /* feature (activation), state (state tensor), time weights (const 2-D): all int8 or all int16;
         * optional int32 bias */
        const int has_bias = op->n_inputs == 4;
        const uint8_t t = in[2].dtype;
        const int wide = t == CIMG_DTYPE_INT16;
        if ((op->n_inputs != 3 && !has_bias) || (t != CIMG_DTYPE_INT8 && !wide) || in[0].dtype != t ||
            in[1].dtype != t || out.dtype != CIMG_DTYPE_INT8 ||
            !(tensor_rec(tids[1])[T_FLAGS] & CIMG_TENSOR_STATE) || !tensor_is(tids[2], CIMG_STORE_CONST, 0) ||
            in[2].rank != 2 ||
            !(wide ? IN_RANGE(p[CIM_P_SVDF_STATE_ZP], INT16_MIN, INT16_MAX) : I8(p[CIM_P_SVDF_STATE_ZP])) ||
            !I8(p[CIM_P_SVDF_OUT_ZP]) || !requant_ok(p[CIM_P_SVDF_MULT], p[CIM_P_SVDF_SHIFT]))
            return CIM_RT_E_PROGRAM;
        const uint32_t n_filter = (uint32_t)in[2].dims[2], n_memory = (uint32_t)in[2].dims[3];
        const uint32_t esize = wide ? 2u : 1u;
        const int32_t rank = p[CIM_P_SVDF_RANK];
        if (!IN_RANGE(rank, 1, n_filter) || n_filter % (uint32_t)rank != 0 || in[0].nbytes != esize * n_filter ||
            (uint64_t)in[1].nbytes != (uint64_t)esize * n_filter * n_memory ||
            out.nbytes != n_filter / (uint32_t)rank ||
            (has_bias && (in[3].dtype != CIMG_DTYPE_INT32 || in[3].nbytes != 4u * out.nbytes)))
            return CIM_RT_E_PROGRAM;
        return 0;
    }
    case CIM_OP_UNIDIRECTIONAL_SEQUENCE_LSTM:
        /* the hidden and cell states are updated in place: two distinct state tensors (so in the arena) */
        if (op->n_inputs != 5 || tids[3] == tids[4] || !(tensor_rec(tids[3])[T_FLAGS] & CIMG_TENSOR_STATE) ||
            !(tensor_rec(tids[4])[T_FLAGS] & CIMG_TENSOR_STATE))
            return CIM_RT_E_PROGRAM;
        return kernel_file_check(op, in, &out);
    case CIM_OP_ASSIGN_VARIABLE: /* writes the new value into a state tensor (the table, if any, is constant) */
        if (!(tensor_rec(tids[op->n_inputs])[T_FLAGS] & CIMG_TENSOR_STATE) ||
            (op->n_inputs == 2 && !tensor_is(tids[1], CIMG_STORE_CONST, CIMG_DTYPE_INT8)))
            return CIM_RT_E_PROGRAM;
        return kernel_file_check(op, in, &out);
    default: /* ops whose kernel file carries the check (contracts/ops.py c_check) */
        return kernel_file_check(op, in, &out);
    }
}

/* --- load ------------------------------------------------------------------------------------- */
static int find_sections(const uint8_t *img, uint32_t total) {
    const uint32_t nsec = rd32(img + CIMG_HDR_SECTION_COUNT_OFF), table = rd32(img + CIMG_HDR_SECTION_TABLE_OFFSET_OFF);
    const uint32_t body = total - CIMG_SHA256_SIZE;
    if (table % 4u != 0 || table < CIMG_HEADER_SIZE || table > body ||
        (uint64_t)nsec * CIMG_SECTION_ENTRY_SIZE > body - table)
        return CIM_RT_E_SECTION;
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *e = img + table + i * CIMG_SECTION_ENTRY_SIZE;
        const uint32_t id = rd32(e + CIMG_SECT_ID_OFF), off = rd32(e + CIMG_SECT_OFFSET_OFF);
        const uint32_t size = rd32(e + CIMG_SECT_SIZE_OFF), crc = rd32(e + CIMG_SECT_CRC32_OFF);
        if (off % CIMG_SECTION_ALIGN != 0 || off > body || size > body - off) return CIM_RT_E_SECTION;
        if (cim_crc32(img + off, size, 0) != crc) return CIM_RT_E_CRC;
        const uint8_t *p = img + off;
        switch (id) {
        case CIMG_SEC_TENSORS: rt.tensors = p; rt.n_tensors = size / CIMG_TENSOR_RECORD_SIZE;
            if (size % CIMG_TENSOR_RECORD_SIZE) return CIM_RT_E_SECTION;
            break;
        case CIMG_SEC_PROGRAM: rt.program = p; rt.program_size = size; break;
        case CIMG_SEC_MATRICES: rt.matrices = p; rt.matrices_size = size;
            rt.n_matrices = size / CIMG_MATRIX_RECORD_SIZE;
            if (size % CIMG_MATRIX_RECORD_SIZE) return CIM_RT_E_SECTION;
            break;
        case CIMG_SEC_TILES: rt.tiles = p; rt.tiles_size = size; break;
        case CIMG_SEC_CELLS: rt.cells = p; rt.cells_size = size; break;
        case CIMG_SEC_QUANT: rt.quant = p; rt.quant_size = size; break;
        case CIMG_SEC_CONST: rt.cnst = p; rt.const_size = size; break;
        case CIMG_SEC_IO: rt.io = p; rt.io_size = size;
            if (size % CIMG_IO_RECORD_SIZE) return CIM_RT_E_SECTION;
            break;
        default: break; /* META and future sections are host-side information */
        }
    }
    if (rt.tensors == NULL || rt.program == NULL) return CIM_RT_E_SECTION;
    return 0;
}

/* The model's inputs and outputs from the io records (scales and zero points are the host's business). The
 * program reads and writes int8 arena tensors, except int16 inputs its QUANTIZE reads and int16/int32 outputs
 * its QUANTIZE or SOFTMAX writes (the edge dtype is then the tensor's). A state tensor is never an edge. The
 * first of each must be the header's; an image without io records has the header's one input and one output. */
static int io_tensor_ok(uint8_t dir, uint8_t edge, uint16_t tid) {
    if (!tensor_is(tid, CIMG_STORE_ARENA, 0) || (tensor_rec(tid)[T_FLAGS] & CIMG_TENSOR_STATE)) return 0;
    const uint8_t dtype = tensor_rec(tid)[T_DTYPE];
    if (dtype == CIMG_DTYPE_INT8) return edge != CIMG_DTYPE_INT16 && edge != CIMG_DTYPE_INT32;
    return edge == dtype && (dtype == CIMG_DTYPE_INT16 || (dir == 1 && dtype == CIMG_DTYPE_INT32));
}

static int read_io(void) {
    const uint32_t n = rt.io ? rt.io_size / CIMG_IO_RECORD_SIZE : 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *r = rt.io + i * CIMG_IO_RECORD_SIZE;
        const uint8_t dir = r[CIMG_IO_DIRECTION_OFF];
        const uint16_t tid = rd16(r + CIMG_IO_TENSOR_OFF);
        uint32_t *count = dir == 0 ? &rt.n_inputs : &rt.n_outputs;
        if (dir > 1 || *count >= CIM_RT_MAX_IO || tid >= rt.n_tensors ||
            !io_tensor_ok(dir, r[CIMG_IO_EDGE_DTYPE_OFF], tid))
            return CIM_RT_E_TENSOR;
        (dir == 0 ? rt.inputs : rt.outputs)[(*count)++] = tid;
    }
    if (n == 0) {
        rt.inputs[0] = (uint16_t)rt.input;
        rt.outputs[0] = (uint16_t)rt.output;
        rt.n_inputs = rt.n_outputs = 1;
    }
    if (rt.n_inputs == 0 || rt.n_outputs == 0 || rt.inputs[0] != rt.input || rt.outputs[0] != rt.output)
        return CIM_RT_E_TENSOR;
    return 0;
}

static int check_program(void) {
    uint32_t pos = 0, index = 0;
    while (pos < rt.program_size) {
        cim_op_t op;
        const uint16_t *tids;
        uint32_t size;
        int rc = decode(pos, index, &op, &tids, &size);
        if (rc != 0) return rc;
        if (op.n_outputs != 1 || op.n_inputs < 1 || op.n_inputs > CIM_RT_MAX_INPUTS ||
            cim_dispatch_nparams(op.opcode) != (int)op.n_params)
            return CIM_RT_E_PROGRAM;
        for (uint32_t i = 0; i < (uint32_t)op.n_inputs + 1u; i++)
            if (tids[i] >= rt.n_tensors) return CIM_RT_E_PROGRAM;
        if (!tensor_is(tids[op.n_inputs], CIMG_STORE_ARENA, 0)) return CIM_RT_E_PROGRAM;
        /* only ASSIGN_VARIABLE writes a state tensor (a streaming model's new state) */
        if ((tensor_rec(tids[op.n_inputs])[T_FLAGS] & CIMG_TENSOR_STATE) && op.opcode != CIM_OP_ASSIGN_VARIABLE)
            return CIM_RT_E_PROGRAM;
        const int is_cim = (op.flags & CIMG_OPF_CIM) != 0;
        if (!cim_dispatch_supported(op.opcode, is_cim)) return CIM_RT_E_OP_MISSING;
        rc = is_cim ? check_cim_op(&op, tids) : check_cpu_op(&op, tids);
        if (rc != 0) return rc;
        pos += size;
        index++;
    }
    return index == rt.n_ops ? 0 : CIM_RT_E_PROGRAM;
}

int cim_rt_load(const uint8_t *image, uint32_t size) {
    cim_rt_unload();
    if (image == NULL || ((uintptr_t)image & 3u) != 0) return CIM_RT_E_ALIGN;
    if (size < CIMG_HEADER_SIZE + CIMG_SHA256_SIZE) return CIM_RT_E_TRUNCATED;
    if (rd32(image + CIMG_HDR_MAGIC_OFF) != CIMG_MAGIC) return CIM_RT_E_MAGIC;
    if (rd16(image + CIMG_HDR_VERSION_MAJOR_OFF) != CIMG_VERSION_MAJOR) return CIM_RT_E_VERSION;
    const uint32_t total = rd32(image + CIMG_HDR_IMAGE_SIZE_OFF);
    if (rd32(image + CIMG_HDR_HEADER_SIZE_OFF) != CIMG_HEADER_SIZE || total > size || total < CIMG_HEADER_SIZE + CIMG_SHA256_SIZE)
        return CIM_RT_E_TRUNCATED;
    int rc = find_sections(image, total);
    if (rc == 0) {
        rt.arena_size = rd32(image + CIMG_HDR_ARENA_SIZE_OFF);
        rt.n_ops = rd16(image + CIMG_HDR_NUM_OPS_OFF);
        rt.input = rd16(image + CIMG_HDR_INPUT_TENSOR_OFF);
        rt.output = rd16(image + CIMG_HDR_OUTPUT_TENSOR_OFF);
        if (rt.arena_size > CIM_ARENA_SIZE) rc = CIM_RT_E_ARENA;
        else if (rd16(image + CIMG_HDR_NUM_TENSORS_OFF) != rt.n_tensors) rc = CIM_RT_E_TENSOR;
    }
    for (uint32_t t = 0; rc == 0 && t < rt.n_tensors; t++) rc = check_tensor(t, rt.n_tensors, rt.tensors);
    if (rc == 0 && (rt.input >= rt.n_tensors || rt.output >= rt.n_tensors ||
                    !tensor_is(rt.input, CIMG_STORE_ARENA, 0) || !tensor_is(rt.output, CIMG_STORE_ARENA, 0)))
        rc = CIM_RT_E_TENSOR;
    if (rc == 0) rc = read_io();
    if (rc == 0) rc = check_program();
    if (rc == 0 && cim_hal_init(image, total) != 0) rc = CIM_RT_E_HAL;
    if (rc != 0) {
        cim_rt_unload();
        return rc;
    }
    rt.image = image;
    rt.size = total;
    cim_rt_reset_state();
    return 0;
}

uint32_t cim_rt_state_bytes(void) {
    uint32_t bytes = 0;
    for (uint32_t t = 0; rt.image != NULL && t < rt.n_tensors; t++)
        if (tensor_rec(t)[T_FLAGS] & CIMG_TENSOR_STATE) bytes += rd32(tensor_rec(t) + T_NBYTES);
    return bytes;
}

uint32_t cim_rt_reset_state(void) {
    if (rt.image == NULL) return 0;
    uint32_t bytes = 0;
    for (uint32_t t = 0; t < rt.n_tensors; t++) {
        const uint8_t *r = tensor_rec(t);
        if (!(r[T_FLAGS] & CIMG_TENSOR_STATE)) continue;
        cim_tensor_t v;
        view(t, &v);
        /* TFLM's ResetVariableTensors: int8 state starts at its zero point, other types at 0 */
        memset(v.data, v.dtype == CIMG_DTYPE_INT8 ? (int)(uint8_t)v.zero_point : 0, v.nbytes);
        bytes += v.nbytes;
    }
    return bytes;
}

void cim_rt_unload(void) {
    cim_rt_op_hook_fn hook = rt.hook;
    void *ctx = rt.hook_ctx;
    memset(&rt, 0, sizeof rt);
    rt.hook = hook;
    rt.hook_ctx = ctx;
}

int cim_rt_loaded(void) { return rt.image != NULL; }

/* --- accessors -------------------------------------------------------------------------------- */
int8_t *cim_rt_input(uint32_t *size) {
    if (rt.image == NULL) {
        if (size) *size = 0;
        return NULL;
    }
    cim_tensor_t t;
    view(rt.input, &t);
    if (size) *size = t.nbytes;
    return (int8_t *)t.data;
}

const int8_t *cim_rt_output(uint32_t *size) {
    if (rt.image == NULL) {
        if (size) *size = 0;
        return NULL;
    }
    cim_tensor_t t;
    view(rt.output, &t);
    if (size) *size = t.nbytes;
    return (const int8_t *)t.data;
}

uint32_t cim_rt_num_inputs(void) { return rt.image ? rt.n_inputs : 0; }
uint32_t cim_rt_num_outputs(void) { return rt.image ? rt.n_outputs : 0; }

static void *io_view(uint32_t index, uint32_t n, const uint16_t *tids, uint32_t *size) {
    if (rt.image == NULL || index >= n) {
        if (size) *size = 0;
        return NULL;
    }
    cim_tensor_t t;
    view(tids[index], &t);
    if (size) *size = t.nbytes;
    return t.data;
}

int8_t *cim_rt_input_at(uint32_t index, uint32_t *size) {
    return (int8_t *)io_view(index, rt.n_inputs, rt.inputs, size);
}

const int8_t *cim_rt_output_at(uint32_t index, uint32_t *size) {
    return (const int8_t *)io_view(index, rt.n_outputs, rt.outputs, size);
}

uint32_t cim_rt_arena_used(void) { return rt.image ? rt.arena_size : 0; }
uint32_t cim_rt_last_op(void) { return rt.last_op; }
uint32_t cim_rt_cim_ops_run(void) { return rt.cim_ops_run; }
uint32_t cim_rt_num_ops(void) { return rt.n_ops; }
uint32_t cim_rt_num_tensors(void) { return rt.n_tensors; }
uint32_t cim_rt_num_matrices(void) { return rt.n_matrices; }
int8_t *cim_rt_arena(void) { return arena; }

const uint8_t *cim_rt_image(uint32_t *size) {
    if (size) *size = rt.size;
    return rt.image;
}

void cim_rt_set_op_hook(cim_rt_op_hook_fn fn, void *ctx) {
    rt.hook = fn;
    rt.hook_ctx = ctx;
}

int cim_rt_get_op(uint32_t index, cim_op_t *op, const uint16_t **tids) {
    if (rt.image == NULL) return CIM_RT_E_NOT_LOADED;
    if (index >= rt.n_ops) return CIM_E_PARAM;
    if (index < rt.cur_index) {
        rt.cur_index = 0;
        rt.cur_offset = 0;
    }
    uint32_t size;
    for (;;) {
        int rc = decode(rt.cur_offset, rt.cur_index, op, tids, &size);
        if (rc != 0) return rc;
        if (rt.cur_index == index) return 0;
        rt.cur_offset += size;
        rt.cur_index++;
    }
}

int cim_rt_tensor(uint32_t tid, cim_tensor_t *t) {
    if (rt.image == NULL) return CIM_RT_E_NOT_LOADED;
    if (tid >= rt.n_tensors) return CIM_E_PARAM;
    view(tid, t);
    return 0;
}

int cim_rt_matrix(uint32_t index, cim_matrix_t *m) {
    if (rt.image == NULL) return CIM_RT_E_NOT_LOADED;
    if (index >= rt.n_matrices) return CIM_E_PARAM;
    matrix_view(index, m);
    return 0;
}

/* --- invoke ----------------------------------------------------------------------------------- */
static int run_cpu_op(const cim_op_t *op, const uint16_t *tids) {
    cim_tensor_t in[CIM_RT_MAX_INPUTS], out;
    const cim_tensor_t *ins[CIM_RT_MAX_INPUTS];
    for (uint32_t i = 0; i < op->n_inputs; i++) {
        view(tids[i], &in[i]);
        ins[i] = &in[i];
    }
    view(tids[op->n_inputs], &out);
    cim_kernel_fn fn = cim_dispatch_kernel(op->opcode);
    return fn ? fn(op, ins, op->n_inputs, &out) : CIM_RT_E_OP_MISSING;
}

int cim_rt_invoke(void) { return cim_rt_invoke_ops(0, rt.n_ops); }

int cim_rt_invoke_ops(uint32_t first, uint32_t count) {
    if (rt.image == NULL) return CIM_RT_E_NOT_LOADED;
    if (first > rt.n_ops || count > rt.n_ops - first) return CIM_E_PARAM;
    for (uint32_t i = first; i < first + count; i++) {
        cim_op_t op;
        const uint16_t *tids;
        int rc = cim_rt_get_op(i, &op, &tids);
        if (rc != 0) return rc;
        rt.last_op = i;
        const int is_cim = (op.flags & CIMG_OPF_CIM) != 0;
        if (rt.hook) rt.hook(rt.hook_ctx, i, op.opcode, is_cim, 0);
        if (is_cim) {
            const uint8_t *ri = tensor_rec(tids[0]), *ro = tensor_rec(tids[1]);
            rc = cim_hal_run_op(i, (const int8_t *)(arena + rd32(ri + T_OFFSET)), arena + rd32(ro + T_OFFSET));
            if (rc == 0) rt.cim_ops_run++;
            else if (rc > 0) rc = CIM_RT_E_HAL;
        } else {
            rc = run_cpu_op(&op, tids);
        }
        if (rt.hook) rt.hook(rt.hook_ctx, i, op.opcode, is_cim, 1);
        if (rc != 0) return rc;
    }
    return 0;
}

const char *cim_rt_strerror(int rc) {
    switch (rc) {
    case 0: return "ok";
    case CIM_E_UNSUPPORTED: return "kernel does not support this op configuration";
    case CIM_E_SHAPE: return "tensor shapes do not match the op";
    case CIM_E_PARAM: return "bad op parameter";
    case CIM_RT_E_NOT_LOADED: return "no image loaded";
    case CIM_RT_E_ALIGN: return "image not 4-byte aligned";
    case CIM_RT_E_TRUNCATED: return "image truncated or header size wrong";
    case CIM_RT_E_MAGIC: return "not a weight image (bad magic)";
    case CIM_RT_E_VERSION: return "image format version not supported";
    case CIM_RT_E_SECTION: return "section table corrupt or section missing";
    case CIM_RT_E_CRC: return "section CRC32 mismatch";
    case CIM_RT_E_TENSOR: return "bad tensor record";
    case CIM_RT_E_PROGRAM: return "bad op record";
    case CIM_RT_E_OP_MISSING: return "op not linked into this firmware";
    case CIM_RT_E_MATRIX: return "bad matrix record";
    case CIM_RT_E_ARENA: return "image arena larger than CIM_ARENA_SIZE";
    case CIM_RT_E_HAL: return "CiM HAL failed";
    default: return rc <= -100 ? "CiM HAL error" : "error";
    }
}
