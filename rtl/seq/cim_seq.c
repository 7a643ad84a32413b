/* The CiM coprocessor's sequencer: the program of the small PicoRV32 inside rtl/cim_coprocessor.v.
 *
 * It serves the mailbox of docs/mailbox.md (the registers live at the bottom of this core's block
 * RAM, where the MCU's Wishbone slave accesses land) and executes its commands: MEMCPY, LOAD_IMAGE
 * (parse the image in place, clear the weight memory, write every tile's weights where the converter
 * placed it, copy the quantization table), RUN_OP (walk the program to the op, read its tensors and
 * parameters, build the tile table, and per output position gather the im2col window, run every tile
 * through the array, add the bias, requantize as TFLM and write the int8 outputs back) and
 * RESET_COUNTERS. The array, the weight memory and a 16 x 16 multiplier are I/O registers (cim_io.h).
 *
 * The instance's geometry comes as -D flags from cimsdk.fpga.seqfw (the target TOML's [rtl]).
 * No libc: libgcc's multiply and divide for the few once-per-op products.
 */
#include <stdint.h>

#define IO(off) (*(volatile uint32_t *)(0xFFFFF800u + (off)))  /* one sw/lw off x0 */
#define IO_BERR IO(0x000)       /* r: a bus access got an error (sticky); w: clear */
#define IO_BERR_ADR IO(0x004)   /* r: its word address */
#define IO_CYCLES IO(0x008)     /* r: free-running clock count */
#define IO_BUSY_CLR IO(0x00C)   /* w: the command is done (the busy line drops) */
#define IO_W_ADDR IO(0x010)     /* w: weight-memory word address */
#define IO_W_BYTE IO(0x014)     /* w: byte (lane << 8 | value) into the word at W_ADDR */
#define IO_W_WORD IO(0x018)     /* w: 32 bits into bytes 0-3 of the word at W_ADDR */
#define IO_W_Q IO(0x01C)        /* r: bytes 0-3 of the word at W_ADDR (written at least 1 access earlier) */
#define IO_W_QI IO(0x030)       /* r: the same, then W_ADDR + 1 (consecutive words, one access each) */
#define IO_W_CLR IO(0x02C)     /* w: zero the whole word at W_ADDR */
#define IO_MUL IO(0x020)        /* w: a << 16 | b (unsigned 16-bit) */
#define IO_MUL_P IO(0x024)      /* r: a * b */
#define IO_ARR_GO IO(0x028)     /* w: word address of the group's first column | valid columns << 24 */
#define IO_ROWIN(k) IO(0x100 + 4 * (k)) /* w: row inputs, 4 rows a word */
#define IO_ROWIN_B(r) (*(volatile uint8_t *)(0xFFFFF900u + (r)))  /* w: row r's input alone */
#define IO_SUM(j) IO(0x200 + 4 * (j))   /* r: column j's dot product (waits for the array) */

enum { CMD_NOP, CMD_MEMCPY, CMD_LOAD_IMAGE, CMD_RUN_OP, CMD_RESET_COUNTERS };
enum { ERR_UNKNOWN_COMMAND = 1, ERR_BAD_ADDRESS, ERR_NO_IMAGE, ERR_BAD_IMAGE, ERR_BAD_OP };
enum { C_COMMANDS, C_OPS, C_MACS, C_ADC, C_PULSES, C_TILE_OPS, C_DIGITAL, C_WEIGHT_BYTES, C_INPUT_BYTES,
       C_OUTPUT_BYTES, NCNT };

#define NSLICE (8 / IB)
#define WPC (ROWS / WMB)
#define WWORDS (NARR * WCOLS * WPC)
#define TT_BASE (WWORDS + QWORDS)  /* tile table: 8 words per tile above the quantization table */

/* the mailbox registers (docs/mailbox.md offsets), at the bottom of the block RAM */
typedef struct {
    uint32_t magic, version, doorbell, accepted, done, status, command, detail;
    uint32_t args[8], results[4], marker[4], heartbeat, pad[7];
    uint32_t counters[32][2];
    uint32_t scratch[16];
} mailbox_t;
extern volatile mailbox_t mb;   /* at the bottom of the RAM (link.ld), reached through gp */
#define MB (&mb)

extern char __bss_start[], __bss_end[];

/* ---- command state ---------------------------------------------------------------------------- */
static void *jb[5];
static uint32_t d_macs, d_pulses, d_digital, d_tiles, d_wbytes, d_in, d_out, d_op;
static uint32_t loaded, img_addr, img_size, img_digest;
static uint32_t sec_tensors, sec_prog, sec_mats, sec_tiles, sec_cells, sec_quant, qsize;
static uint32_t nops;
static union { uint8_t b[WINMAX]; uint32_t w[WINMAX / 4]; } wbuf;
#define win wbuf.b
static uint32_t acc[NMAX];
/* op parameters persist across commands as the registers of a hardware sequencer would; the shapes
 * (16-bit) first, then the zero points and the activation range, in this order in memory */
static struct {
    uint32_t sh, sw, dh, dw, pt, pl, kh, kw, dm;
    int32_t in_zp, out_zp, act_min, act_max;
} P;
/* where parameters 1.. of each op go (parameter 0 is the matrix index) */
static uint32_t *const conv_par[12] = {&P.sh, &P.sw, &P.dh, &P.dw, &P.pt, &P.pl, &P.kh, &P.kw, (uint32_t *)&P.in_zp,
                                       (uint32_t *)&P.out_zp, (uint32_t *)&P.act_min, (uint32_t *)&P.act_max};
static uint32_t *const dw_par[13] = {&P.sh, &P.sw, &P.dh, &P.dw, &P.pt, &P.pl, &P.kh, &P.kw, &P.dm, (uint32_t *)&P.in_zp,
                                     (uint32_t *)&P.out_zp, (uint32_t *)&P.act_min, (uint32_t *)&P.act_max};
static uint32_t *const fc_par[4] = {(uint32_t *)&P.in_zp, (uint32_t *)&P.out_zp, (uint32_t *)&P.act_min,
                                    (uint32_t *)&P.act_max};

static void finish(uint32_t status, uint32_t detail);

__attribute__((noreturn)) static void fail(uint32_t code, uint32_t why) {
    finish(code, why);
    __builtin_longjmp(jb, 1);
}

static void check_bus(void) {
    if (IO_BERR) fail(ERR_BAD_ADDRESS, IO_BERR_ADR);
}

__attribute__((noinline)) static uint32_t rd32(uint32_t a) {
    uint32_t v = *(volatile uint32_t *)(a & ~3u);
    check_bus();
    return v;
}

__attribute__((noinline)) static uint32_t rd16(uint32_t a) { return (rd32(a) >> (8 * (a & 2))) & 0xffff; }

/* byte reads through a one-word cache (the window gather reads consecutive bytes) */
static uint32_t cache_adr = 1, cache_dat;
static uint32_t rd8(uint32_t a) {
    uint32_t w = a & ~3u;
    if (w != cache_adr) {
        cache_dat = *(volatile uint32_t *)w;
        cache_adr = w;
    }
    return (cache_dat >> (8 * (a & 3))) & 0xff;
}

__attribute__((noinline)) static void wr8(uint32_t a, uint32_t v) {
    *(volatile uint8_t *)a = (uint8_t)v;
    if ((a & ~3u) == cache_adr) cache_adr = 1;
}

__attribute__((noinline)) static void wmem_word(uint32_t addr, uint32_t v) {
    IO_W_ADDR = addr;
    IO_W_WORD = v;
}

/* the command's counts into the 64-bit counters, then the status, DONE last */
__attribute__((noinline)) static void add64(int slot, uint32_t v) {
    uint32_t lo = MB->counters[slot][0] + v;
    MB->counters[slot][1] += lo < v;
    MB->counters[slot][0] = lo;
}

static void finish(uint32_t status, uint32_t detail) {
    add64(C_COMMANDS, 1);
    add64(C_OPS, d_op);
    add64(C_MACS, d_macs);
    add64(C_PULSES, d_pulses);
    add64(C_TILE_OPS, d_tiles);
    add64(C_DIGITAL, d_digital);
    add64(C_WEIGHT_BYTES, d_wbytes);
    add64(C_INPUT_BYTES, d_op ? d_in : 0);
    add64(C_OUTPUT_BYTES, d_op ? d_out : 0);
    MB->status = status;
    MB->detail = detail;
    MB->done = MB->accepted;
    IO_BUSY_CLR = 1;
}

static uint32_t crc32_byte(uint32_t crc, uint32_t b) {
    crc ^= b;
    for (int i = 0; i < 8; i++) crc = (crc & 1) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    return crc;
}

/* ---- MEMCPY: forward, byte by byte, CRC-32 of the bytes ---------------------------------------- */
static void memcpy_cmd(void) {
    uint32_t src = MB->args[0], dst = MB->args[1], n = MB->args[2], crc = 0xffffffffu;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t b = (rd32(src + i) >> (8 * ((src + i) & 3))) & 0xff;
        crc = crc32_byte(crc, b);
        wr8(dst + i, b);
        check_bus();
    }
    MB->results[0] = ~crc;
}

/* ---- LOAD_IMAGE -------------------------------------------------------------------------------- */
static uint32_t count_ops(void) {                 /* RESULT0 = ops, RESULT1 = CiM ops */
    uint32_t pos = sec_prog, ncim = 0;
    for (uint32_t i = 0; i < nops; i++) {
        uint32_t w0 = rd32(pos), w1 = rd32(pos + 4);
        pos += w0 >> 16;
        ncim += (w1 >> 24) & 1;
    }
    MB->results[0] = nops;
    return ncim;
}

static void load_image(void) {
    uint32_t base = MB->args[0], size = MB->args[1];
    uint32_t was_loaded = loaded;
    loaded = 0;                                    /* a failed load leaves no image resident */
    if ((base & 3) || size < 96) fail(ERR_BAD_IMAGE, base);
    if (rd32(base) != 0x474D4943u) fail(ERR_BAD_IMAGE, base);           /* "CIMG" */
    if ((rd32(base + 4) & 0xffff) != 1) fail(ERR_BAD_IMAGE, base);      /* format 1.x */
    if (rd32(base + 12) != size) fail(ERR_BAD_IMAGE, base);
    uint32_t tid = rd32(base + 16);
    if (tid != TARGET_ID) fail(ERR_BAD_IMAGE, tid);
    uint32_t nsec = rd32(base + 24);
    uint32_t tbl = base + rd32(base + 28);
    nops = rd32(base + 36) >> 16;
    uint32_t msize = 0;
    sec_tensors = sec_prog = sec_mats = sec_tiles = sec_cells = sec_quant = qsize = 0;
    for (uint32_t i = 0; i < nsec; i++) {
        uint32_t e = tbl + 16 * i;
        uint32_t sid = rd32(e), off = base + rd32(e + 4), len = rd32(e + 8);
        switch (sid) {
        case 2: sec_tensors = off; break;
        case 3: sec_prog = off; break;
        case 4: sec_mats = off; msize = len; break;
        case 5: sec_tiles = off; break;
        case 6: sec_cells = off; break;
        case 7: sec_quant = off; qsize = len; break;
        default: break;
        }
    }
    if (!sec_prog || !sec_tensors || !sec_mats || !sec_tiles || !sec_cells || !sec_quant || (qsize >> 2) > QWORDS)
        fail(ERR_BAD_IMAGE, base);
    uint32_t digest = rd32(base + size - 32);     /* SHA-256 trailer */
    if (was_loaded && img_addr == base && img_size == size && img_digest == digest) {
        loaded = 1;                                /* resident: a no-op */
        MB->results[1] = count_ops();
        return;
    }
    img_digest = digest;
    for (uint32_t j = 0; j < WWORDS; j++) {
        IO_W_ADDR = j;
        IO_W_CLR = 0;
    }
    for (uint32_t j = 0; j < (qsize >> 2); j++) wmem_word(WWORDS + j, rd32(sec_quant + 4 * j));
    for (uint32_t mi = 0; 32 * mi < msize; mi++) {
        uint32_t m = sec_mats + 32 * mi;
        uint32_t kind = rd32(m), mk = rd32(m + 4), coff = rd32(m + 12), t0 = rd32(m + 20), nt = rd32(m + 24);
        for (uint32_t ti = 0; ti < nt; ti++) {
            uint32_t a = sec_tiles + 28 * (t0 + ti);
            uint32_t macro = rd32(a) >> 16, w1 = rd32(a + 4);
            uint32_t arr = (macro * APM + (w1 & 0xffff)) & 0xffff, row0 = w1 >> 16;
            uint32_t col0 = rd32(a + 8) & 0xffff, k0 = rd32(a + 12), klen = rd32(a + 16);
            uint32_t n0 = rd32(a + 20), nlen = rd32(a + 24);
            uint32_t ext = kind == 1 ? klen * nlen : klen;
            if (arr >= NARR || col0 + nlen > WCOLS || row0 + ext > ROWS)
                fail(ERR_BAD_IMAGE, t0 + ti);      /* not mapped for this instance */
            uint32_t colbase = sec_cells + coff + n0 * mk + k0, rowbase = row0;
            for (uint32_t j = 0; j < nlen; j++) {
                uint32_t col = (arr * WCOLS + col0 + j) * WPC;
                for (uint32_t k = 0; k < klen; k++) {
                    uint32_t r = (rowbase + k) & (ROWS - 1);
                    uint32_t b = (rd32(colbase + k) >> (8 * ((colbase + k) & 3))) & 0xff;
                    IO_W_ADDR = col + r / WMB;
                    IO_W_BYTE = (r % WMB) << 8 | b;
                    d_wbytes++;
                }
                colbase += mk;
                if (kind == 1) rowbase += klen;
            }
        }
    }
    loaded = 1;
    img_addr = base;
    img_size = size;
    MB->results[1] = count_ops();
}

/* ---- RUN_OP -------------------------------------------------------------------------------------- */
static uint32_t mul16(uint32_t a, uint32_t b) {
    IO_MUL = a << 16 | b;
    return IO_MUL_P;
}

#include "cim_requant.h"

static void run_op(void) {
    uint32_t opi = MB->args[0];
    if (!loaded) fail(ERR_NO_IMAGE, 0);
    if (opi >= nops) fail(ERR_BAD_OP, opi);
    uint32_t t_start = IO_CYCLES;
    uint32_t pos = sec_prog;
    for (uint32_t i = 0; i < opi; i++) pos += rd32(pos) >> 16;
    uint32_t op_code = rd32(pos) & 0xffff, w1 = rd32(pos + 4);
    uint32_t nin = w1 & 0xff, nout = (w1 >> 8) & 0xff, npar = (w1 >> 16) & 0xff;
    uint32_t tidpos = pos + 8, parpos = pos + 8 + ((2 * (nin + nout) + 3) & ~3u);
    if (!((w1 >> 24) & 1) || op_code < 1 || op_code > 3 || npar > 16) fail(ERR_BAD_OP, opi);
    uint32_t nact = 0, act_t = 0;
    for (uint32_t i = 0; i < nin; i++) {
        uint32_t t = rd16(tidpos + 2 * i);
        if (((rd32(sec_tensors + 36 * t) >> 16) & 0xff) == 0) { act_t = t; nact++; }   /* arena tensor */
    }
    if (nact != 1) fail(ERR_BAD_OP, opi);
    uint32_t out_t = rd16(tidpos + 2 * nin);
    uint32_t mi = 0;
    uint32_t *const *tab = op_code == 3 ? fc_par : op_code == 2 ? dw_par : conv_par;
    uint32_t ntab = op_code == 3 ? 4 : op_code == 2 ? 13 : 12;
    for (uint32_t j = 0; j < npar; j++) {         /* parameter j into its register */
        uint32_t v = rd32(parpos + 4 * j);
        if (j == 0) mi = v;
        else if (j <= ntab) {
            uint32_t *r = tab[j - 1];
            *r = r < (uint32_t *)&P.in_zp ? v & 0xffff : v;   /* shapes are 16-bit registers */
        }
    }
    if (op_code == 3) { P.sh = P.sw = P.dh = P.dw = 1; P.pt = P.pl = 0; P.kh = P.kw = 1; P.dm = 1; }
    else if (op_code != 2) P.dm = 1;
    uint32_t ta = sec_tensors + 36 * act_t, to = sec_tensors + 36 * out_t;
    uint32_t in_h = rd32(ta + 8) & 0xffff, in_w = rd32(ta + 12) & 0xffff, in_c = rd32(ta + 16) & 0xffff;
    uint32_t in_bytes = rd32(ta + 24);
    uint32_t out_h = rd32(to + 8) & 0xffff, out_w = rd32(to + 12) & 0xffff;
    uint32_t m = sec_mats + 32 * mi;
    uint32_t kind = rd32(m), mk = rd32(m + 4), mn = rd32(m + 8), qoff = rd32(m + 16), t0 = rd32(m + 20);
    uint32_t nt = rd32(m + 24);
    if (op_code == 3) { in_h = 1; in_w = 0; in_c = mk & 0xffff; out_h = 1; }
    uint32_t winlen = P.kh * P.kw * in_c;
    if (mn > NMAX || nt > TMAX || nt == 0 || winlen > WINMAX || mk > WINMAX || (qoff >> 2) + 3 * mn > QWORDS)
        fail(ERR_BAD_OP, opi);                     /* exceeds this instance's buffers */
    if (op_code == 3) {                            /* rows = bytes / K */
        for (uint32_t j = 0; j < in_bytes; j += mk) in_w = (in_w + 1) & 0xffff;
        out_w = in_w;
    }
    uint32_t rowstride = in_w * in_c, sh_rs = P.sh * rowstride, dh_rs = P.dh * rowstride;
    uint32_t sw_c = P.sw * in_c, dw_c = P.dw * in_c, pt_rs = P.pt * rowstride, pl_c = P.pl * in_c;
    /* the tile table, into the weight memory above the quantization table; the energy model's counts
     * of one output position (the same for every position: added once, times the positions, at the end) */
    uint32_t p_macs = 0, p_pulses = 0, p_digital = 0;
    for (uint32_t ti = 0; ti < nt; ti++) {
        uint32_t a = sec_tiles + 28 * (t0 + ti);
        uint32_t macro = rd32(a) >> 16, w = rd32(a + 4);
        uint32_t arr = (macro * APM + (w & 0xffff)) & 0xffff, row0 = w >> 16;
        uint32_t col0 = rd32(a + 8) & 0xffff, k0 = rd32(a + 12), klen = rd32(a + 16);
        uint32_t n0 = rd32(a + 20), nlen = rd32(a + 24);
        uint32_t cch = P.dm == 1 ? n0 : n0 / P.dm, dmr = P.dm == 1 ? 0 : n0 % P.dm;
        uint32_t tt = TT_BASE + 8 * ti;
        wmem_word(tt, (arr * WCOLS + col0) * WPC);
        wmem_word(tt + 1, row0);
        wmem_word(tt + 2, k0 & 0xffff);
        wmem_word(tt + 3, klen & 0xffff);
        wmem_word(tt + 4, n0 & 0xffff);
        wmem_word(tt + 5, nlen & 0xffff);
        wmem_word(tt + 6, (cch & 0xffff) | dmr << 16);
        wmem_word(tt + 7, (klen * nlen) & 0xffff);
        p_macs += (klen * nlen) & 0xffff;
        p_pulses += (kind == 1 ? (klen * nlen) & 0xffff : klen) * NSLICE;
        p_digital += nlen * 8 * NSLICE + nlen;
    }
    uint32_t out_ptr = MB->args[2], out_total = 0, in_base = MB->args[1];
    int32_t by = -(int32_t)P.pt, bx = -(int32_t)P.pl;
    uint32_t ybase = -pt_rs, xbase = -pl_c;
    uint32_t o_y = 0, o_x = 0, npos = 0;
    uint32_t qbase = WWORDS + (qoff >> 2);
    for (;;) {
        /* gather the im2col window (padding = the input zero point) */
        uint32_t widx = 0, ky = 0, kx = 0, ytap = 0, xtap = 0;
        int32_t ty = 0, tx = 0;
        for (;;) {
            int32_t iy = by + ty, ix = bx + tx;
            int tap_in = iy >= 0 && iy < (int32_t)in_h && ix >= 0 && ix < (int32_t)in_w;
            uint32_t tap = in_base + ybase + ytap + xbase + xtap;
            if (tap_in && !((tap | widx | in_c) & 3)) {          /* whole words */
                for (uint32_t c = 0; c < in_c; c += 4, widx += 4)
                    wbuf.w[(widx & (WINMAX - 1)) >> 2] = *(volatile uint32_t *)(tap + c);
            } else {
                for (uint32_t c = 0; c < in_c; c++)
                    win[(widx++) & (WINMAX - 1)] = tap_in ? rd8(tap + c) : (uint8_t)P.in_zp;
            }
            if (kx + 1 < P.kw) { kx++; tx += P.dw; xtap += dw_c; }
            else if (ky + 1 < P.kh) { kx = 0; tx = 0; xtap = 0; ky++; ty += P.dh; ytap += dh_rs; }
            else break;
        }
        check_bus();
        for (uint32_t n = 0; n < mn; n++) acc[n] = 0;
        /* every tile: its rows of the window onto the word lines, PAR columns a pass */
        for (uint32_t ti = 0; ti < nt; ti++) {
            IO_W_ADDR = TT_BASE + 8 * ti;
            uint32_t colw = IO_W_QI, row0 = IO_W_QI, k0 = IO_W_QI, klen = IO_W_QI;
            uint32_t n0 = IO_W_QI, nlen = IO_W_QI, cd = IO_W_QI;   /* (word 7, klen x nlen, is not read here) */
            if (kind != 1 && row0 == 0 && !(k0 & 3)) {   /* the common case: whole words of the window */
                uint32_t full = klen >> 2, r = 0;
                const uint32_t *src = &wbuf.w[(k0 & (WINMAX - 1)) >> 2];
                for (; r < full; r++) IO_ROWIN(r) = src[r];
                if (klen & 3) { IO_ROWIN(r) = src[r] & ((1u << (8 * (klen & 3))) - 1); r++; }
                for (; r < ROWS / 4; r++) IO_ROWIN(r) = 0;
                goto compute;
            }
            for (uint32_t r = 0; r < ROWS / 4; r++) IO_ROWIN(r) = 0;   /* then the tile's rows byte by byte */
            if (kind == 1) {                       /* block j: rows row0 + j*K + k */
                uint32_t cch = cd & 0xffff, dmr = cd >> 16, kaddr = cch, prow = row0;
                for (uint32_t j = 0; j < nlen; j++) {
                    for (uint32_t k = 0; k < klen; k++) {
                        IO_ROWIN_B(prow++ & (ROWS - 1)) = win[kaddr & (WINMAX - 1)];
                        kaddr += in_c;
                    }
                    if (dmr + 1 == P.dm) { dmr = 0; cch++; } else dmr++;
                    kaddr = cch;
                }
            } else {
                for (uint32_t k = 0; k < klen; k++) IO_ROWIN_B((row0 + k) & (ROWS - 1)) = win[(k0 + k) & (WINMAX - 1)];
            }
        compute:
            for (uint32_t g0 = 0; g0 < nlen; g0 += PAR) {
                uint32_t nv = nlen - g0 < PAR ? nlen - g0 : PAR;
                IO_ARR_GO = (colw + g0 * WPC) | nv << 24;
                for (uint32_t j = 0; j < nv; j++) acc[(n0 + g0 + j) & (NMAX - 1)] += IO_SUM(j);
            }
        }
        /* bias, requantization, clamp, write back */
        /* (one bus word per 4 outputs when they are word-aligned) */
        IO_W_ADDR = qbase;                         /* bias, multiplier, shift of each channel in turn */
        int words = !((out_ptr | mn) & 3);
        uint32_t word = 0;
        for (uint32_t n = 0; n < mn; n++) {
            int32_t bias = (int32_t)IO_W_QI, mult = (int32_t)IO_W_QI, shift = (int32_t)IO_W_QI;
            uint32_t y = (uint8_t)cim_requant((int32_t)(acc[n] + (uint32_t)bias), mult, shift, P.out_zp, P.act_min, P.act_max);
            if (!words) { wr8(out_ptr + n, y); continue; }
            word |= y << (8 * (n & 3));
            if ((n & 3) == 3) {
                uint32_t a = out_ptr + n - 3;
                *(volatile uint32_t *)a = word;
                if (a == cache_adr) cache_adr = 1;
                word = 0;
            }
        }
        check_bus();
        out_ptr += mn;
        out_total += mn;
        npos++;
        if (o_x + 1 < out_w) { o_x++; bx += P.sw; xbase += sw_c; }
        else if (o_y + 1 < out_h) { o_x = 0; bx = -(int32_t)P.pl; xbase = -pl_c; o_y++; by += P.sh; ybase += sh_rs; }
        else break;
    }
    d_macs = p_macs * npos;
    d_tiles = nt * npos;
    d_pulses = p_pulses * npos;
    d_digital = p_digital * npos;
    d_op = 1;
    d_in = in_bytes;
    d_out = out_total;
    MB->results[0] = out_total;
    MB->results[1] = IO_CYCLES - t_start;          /* coprocessor clock cycles of the op */
}

/* ---- the mailbox loop ---------------------------------------------------------------------------- */
void seq_main(void) {
    for (char *p = __bss_start; p < __bss_end; p++) *p = 0;
    for (int i = 0; i < 2 * NCNT; i++) MB->counters[i / 2][i % 2] = 0;
    uint32_t idle = 0;
    __builtin_setjmp(jb);                          /* fail() ends a command here */
    for (;;) {
        uint32_t bell = MB->doorbell;
        if (bell == MB->accepted) {
            if ((++idle & 63) == 0) MB->heartbeat++;
            continue;
        }
        MB->accepted = bell;
        for (int i = 0; i < 4; i++) MB->results[i] = 0;
        MB->status = 0;
        MB->detail = 0;
        IO_BERR = 0;
        cache_adr = 1;
        d_macs = d_pulses = d_digital = d_tiles = d_wbytes = d_in = d_out = d_op = 0;
        uint32_t cmd = MB->command;
        switch (cmd) {
        case CMD_NOP: break;
        case CMD_MEMCPY: memcpy_cmd(); break;
        case CMD_LOAD_IMAGE: load_image(); break;
        case CMD_RUN_OP: run_op(); break;
        case CMD_RESET_COUNTERS:
            for (int i = 0; i < 2 * NCNT; i++) MB->counters[i / 2][i % 2] = 0;
            break;
        default: fail(ERR_UNKNOWN_COMMAND, cmd);
        }
        finish(0, 0);
    }
}
