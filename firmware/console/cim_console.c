/* Console command dispatch (docs/serial-protocol.md, "Console commands").
 *
 * Every command is idempotent (writes carry their offset, COMMIT re-checks the hash), so the
 * host may resend a request whose reply it lost without harm. */
#include "cim_console.h"

#include <string.h>

#include "cim_frame.h"
#include "cim_protocol.h"
#include "cim_runtime.h"
#include "cimg_format.h"
#include "sha256.h"

static struct {
    cim_console_cfg_t cfg;
    cim_frame_rx_t rx;
    const uint8_t *image;   /* the loaded image: image_buf or the embedded one */
    uint32_t image_size;
    uint8_t image_sha[CIM_SHA256_SIZE];
    uint8_t loaded;
    uint64_t last_cycles;
    uint64_t last_instret;
    uint32_t inferences;
    int pending; /* a byte that stopped RUN_MARKED, fed to the parser after the reply; -1: none */
} con;

static void tx_putc(void *ctx, uint8_t b) {
    (void)ctx;
    con.cfg.putc(b);
}

static void reply(uint8_t opcode, uint16_t seq, uint8_t status, const uint8_t *payload, uint16_t len) {
    cim_frame_send(tx_putc, 0, opcode, CIM_FLAG_RESPONSE, seq, status, payload, len);
}

static void reply_code(uint8_t opcode, uint16_t seq, uint8_t status, int32_t code) {
    uint8_t p[4];
    cim_put_u32(p, (uint32_t)code);
    reply(opcode, seq, status, p, sizeof p);
}

/* --- TLV builder over a small stack buffer ------------------------------------------- */

typedef struct {
    uint8_t buf[224];
    uint16_t len;
} tlv_t;

static void tlv_bytes(tlv_t *t, uint8_t tag, const void *value, uint32_t n) {
    if (n > 255u || t->len + 2u + n > sizeof t->buf) return; /* drop what does not fit */
    t->buf[t->len] = tag;
    t->buf[t->len + 1] = (uint8_t)n;
    if (n) memcpy(t->buf + t->len + 2, value, n);
    t->len = (uint16_t)(t->len + 2u + n);
}

static void tlv_u8(tlv_t *t, uint8_t tag, uint8_t v) { tlv_bytes(t, tag, &v, 1); }

static void tlv_u16(tlv_t *t, uint8_t tag, uint16_t v) {
    uint8_t p[2];
    cim_put_u16(p, v);
    tlv_bytes(t, tag, p, 2);
}

static void tlv_u32(tlv_t *t, uint8_t tag, uint32_t v) {
    uint8_t p[4];
    cim_put_u32(p, v);
    tlv_bytes(t, tag, p, 4);
}

static void tlv_u64(tlv_t *t, uint8_t tag, uint64_t v) {
    uint8_t p[8];
    cim_put_u64(p, v);
    tlv_bytes(t, tag, p, 8);
}

static void tlv_str(tlv_t *t, uint8_t tag, const char *s) {
    if (s) tlv_bytes(t, tag, s, (uint32_t)strlen(s));
}

/* --- helpers --------------------------------------------------------------------------- */

static uint32_t max_payload(void) { return con.cfg.rx_cap - CIM_MIN_FRAME; }

/* A model's inputs (dir 0) or outputs (dir 1) travel as one byte string: each tensor's bytes in the
 * image's io-record order, the model's own order (docs/serial-protocol.md, "Several inputs and outputs"). */
static uint8_t *io_part(int dir, uint32_t index, uint32_t *size) {
    if (!con.loaded) {
        *size = 0;
        return 0;
    }
    return dir == 0 ? (uint8_t *)cim_rt_input_at(index, size) : (uint8_t *)(uintptr_t)cim_rt_output_at(index, size);
}

static uint32_t io_total(int dir) {
    uint32_t total = 0, n;
    for (uint32_t i = 0; io_part(dir, i, &n) != 0; i++) total += n;
    return total;
}

/* Byte `offset` of the string: a pointer to it and how many bytes of its tensor follow (0/NULL past the end). */
static uint8_t *io_at(int dir, uint32_t offset, uint32_t *left) {
    uint32_t n;
    uint8_t *p;
    for (uint32_t i = 0; (p = io_part(dir, i, &n)) != 0; i++) {
        if (offset < n) {
            *left = n - offset;
            return p + offset;
        }
        offset -= n;
    }
    *left = 0;
    return 0;
}

static uint32_t input_size(void) { return io_total(0); }

static uint32_t output_size(void) { return io_total(1); }

/* The marker brackets exactly the inference so a power trace can cut it out. */
static int run_one(uint64_t *cycles, uint64_t *instret) {
    con.cfg.marker(1);
    uint64_t c0 = con.cfg.cycles();
    uint64_t i0 = con.cfg.instret();
    int rc = cim_rt_invoke();
    uint64_t i1 = con.cfg.instret();
    uint64_t c1 = con.cfg.cycles();
    con.cfg.marker(0);
    *cycles = c1 - c0;
    *instret = i1 - i0;
    if (rc == 0) {
        con.last_cycles = *cycles;
        con.last_instret = *instret;
        con.inferences++;
    }
    return rc;
}

static int load(const uint8_t *image, uint32_t size) {
    con.loaded = 0;
    int rc = cim_rt_load(image, size);
    if (rc == 0) {
        con.image = image;
        con.image_size = size;
        con.loaded = 1;
    }
    return rc;
}

/* --- commands -------------------------------------------------------------------------- */

static void cmd_ping(const cim_frame_t *f) {
    uint8_t head[8];
    cim_put_u16(head, CIM_PROTOCOL_VERSION);
    head[2] = CIM_ROLE_APP;
    head[3] = 0;
    cim_put_u32(head + 4, max_payload());
    uint16_t echo = f->length;
    if (echo > max_payload() - sizeof head) echo = (uint16_t)(max_payload() - sizeof head);
    cim_frame_tx_t tx;
    cim_frame_tx_begin(&tx, tx_putc, 0, f->opcode, CIM_FLAG_RESPONSE, f->seq, CIM_ST_OK,
                       (uint16_t)(sizeof head + echo));
    cim_frame_tx_write(&tx, head, sizeof head);
    cim_frame_tx_write(&tx, f->payload, echo);
    cim_frame_tx_end(&tx);
}

static void cmd_info(const cim_frame_t *f) {
    tlv_t t = {.len = 0};
    tlv_u16(&t, CIM_INFO_PROTO_VERSION, CIM_PROTOCOL_VERSION);
    tlv_u8(&t, CIM_INFO_ROLE, CIM_ROLE_APP);
    tlv_u32(&t, CIM_INFO_MAX_PAYLOAD, max_payload());
    tlv_str(&t, CIM_INFO_BOARD, con.cfg.board);
    tlv_str(&t, CIM_INFO_FW_VERSION, con.cfg.fw_version);
    tlv_str(&t, CIM_INFO_BACKEND, con.cfg.backend);
    tlv_u32(&t, CIM_INFO_IMAGE_CAPACITY, con.cfg.image_cap);
    tlv_u32(&t, CIM_INFO_ARENA_SIZE, con.cfg.arena_size);
    tlv_u8(&t, CIM_INFO_IMAGE_LOADED, con.loaded);
    if (con.loaded) {
        tlv_u32(&t, CIM_INFO_IMAGE_SIZE, con.image_size);
        tlv_bytes(&t, CIM_INFO_IMAGE_SHA256, con.image_sha, CIM_SHA256_SIZE);
        tlv_u32(&t, CIM_INFO_INPUT_SIZE, input_size());
        tlv_u32(&t, CIM_INFO_OUTPUT_SIZE, output_size());
        tlv_u32(&t, CIM_INFO_ARENA_USED, cim_rt_arena_used());
        tlv_u32(&t, CIM_INFO_STATE_BYTES, cim_rt_state_bytes());
        /* A .cimg names its target in its header's target_name field (docs/image-format.md);
         * other images simply have no target tag. */
        if (con.image_size >= CIMG_HEADER_SIZE && cim_get_u32(con.image + CIMG_HDR_MAGIC_OFF) == CIMG_MAGIC) {
            const uint8_t *name = con.image + CIMG_HDR_TARGET_NAME_OFF;
            uint32_t n = 0;
            while (n < CIMG_HDR_TARGET_NAME_SIZE && name[n] != 0) n++;
            tlv_bytes(&t, CIM_INFO_IMAGE_TARGET, name, n);
        }
    }
    reply(f->opcode, f->seq, CIM_ST_OK, t.buf, t.len);
}

static void cmd_reset(const cim_frame_t *f) {
    reply(f->opcode, f->seq, CIM_ST_OK, 0, 0);
    if (con.cfg.reset) con.cfg.reset();
    /* Soft reset: forget the image (a reboot would too) and the counters. */
    con.loaded = 0;
    con.image = 0;
    con.image_size = 0;
    con.inferences = 0;
    con.last_cycles = con.last_instret = 0;
}

static void cmd_load_image(const cim_frame_t *f) {
    if (f->length < 4) {
        reply(f->opcode, f->seq, CIM_ST_ERR_BAD_ARG, 0, 0);
        return;
    }
    uint32_t offset = cim_get_u32(f->payload);
    uint32_t n = f->length - 4u;
    if (offset > con.cfg.image_cap || n > con.cfg.image_cap - offset) {
        reply(f->opcode, f->seq, CIM_ST_ERR_RANGE, 0, 0);
        return;
    }
    /* The runtime may point into the buffer: once it changes, nothing is loaded. */
    if (con.image == con.cfg.image_buf) con.loaded = 0;
    memcpy(con.cfg.image_buf + offset, f->payload + 4, n);
    reply(f->opcode, f->seq, CIM_ST_OK, 0, 0);
}

static void commit_reply(const cim_frame_t *f) {
    tlv_t t = {.len = 0};
    tlv_u32(&t, CIM_CNT_INPUT_SIZE, input_size());
    tlv_u32(&t, CIM_CNT_OUTPUT_SIZE, output_size());
    tlv_u32(&t, CIM_CNT_ARENA_USED, cim_rt_arena_used());
    reply(f->opcode, f->seq, CIM_ST_OK, t.buf, t.len);
}

static void cmd_commit_image(const cim_frame_t *f) {
    if (f->length != 4u + CIM_SHA256_SIZE) {
        reply(f->opcode, f->seq, CIM_ST_ERR_BAD_ARG, 0, 0);
        return;
    }
    uint32_t size = cim_get_u32(f->payload);
    const uint8_t *want = f->payload + 4;
    if (size == 0 || size > con.cfg.image_cap) {
        reply(f->opcode, f->seq, CIM_ST_ERR_RANGE, 0, 0);
        return;
    }
    /* A resent COMMIT for the image already loaded is acknowledged without re-parsing. */
    if (con.loaded && con.image == con.cfg.image_buf && con.image_size == size &&
        memcmp(con.image_sha, want, CIM_SHA256_SIZE) == 0) {
        commit_reply(f);
        return;
    }
    uint8_t got[CIM_SHA256_SIZE];
    cim_sha256(con.cfg.image_buf, size, got);
    if (memcmp(got, want, CIM_SHA256_SIZE) != 0) {
        con.loaded = 0;
        reply(f->opcode, f->seq, CIM_ST_ERR_HASH, got, CIM_SHA256_SIZE);
        return;
    }
    int rc = load(con.cfg.image_buf, size);
    if (rc != 0) {
        reply_code(f->opcode, f->seq, CIM_ST_ERR_IMAGE, rc);
        return;
    }
    memcpy(con.image_sha, got, CIM_SHA256_SIZE);
    commit_reply(f);
}

static int need_image(const cim_frame_t *f) {
    if (con.loaded) return 1;
    reply(f->opcode, f->seq, CIM_ST_ERR_STATE, 0, 0);
    return 0;
}

static void cmd_set_input(const cim_frame_t *f) {
    if (!need_image(f)) return;
    if (f->length < 4) {
        reply(f->opcode, f->seq, CIM_ST_ERR_BAD_ARG, 0, 0);
        return;
    }
    const uint32_t size = input_size();
    const uint32_t offset = cim_get_u32(f->payload);
    const uint32_t n = f->length - 4u;
    if (size == 0 || offset > size || n > size - offset) {
        reply(f->opcode, f->seq, CIM_ST_ERR_RANGE, 0, 0);
        return;
    }
    for (uint32_t done = 0, left; done < n; ) { /* a chunk may span several input tensors */
        uint8_t *dst = io_at(0, offset + done, &left);
        const uint32_t k = left < n - done ? left : n - done;
        memcpy(dst, f->payload + 4 + done, k);
        done += k;
    }
    reply(f->opcode, f->seq, CIM_ST_OK, 0, 0);
}

static void cmd_invoke(const cim_frame_t *f) {
    if (!need_image(f)) return;
    uint64_t cycles, instret;
    int rc = run_one(&cycles, &instret);
    if (rc != 0) {
        reply_code(f->opcode, f->seq, CIM_ST_ERR_RUNTIME, rc);
        return;
    }
    uint8_t p[16];
    cim_put_u64(p, cycles);
    cim_put_u64(p + 8, instret);
    reply(f->opcode, f->seq, CIM_ST_OK, p, sizeof p);
}

static void cmd_get_output(const cim_frame_t *f) {
    if (!need_image(f)) return;
    if (f->length != 8) {
        reply(f->opcode, f->seq, CIM_ST_ERR_BAD_ARG, 0, 0);
        return;
    }
    const uint32_t size = output_size();
    const uint32_t offset = cim_get_u32(f->payload);
    uint32_t n = cim_get_u32(f->payload + 4);
    if (size == 0 || offset > size) {
        reply(f->opcode, f->seq, CIM_ST_ERR_RANGE, 0, 0);
        return;
    }
    if (n == 0 || n > size - offset) n = size - offset;
    if (n > CIM_MAX_DATA) n = CIM_MAX_DATA;
    uint32_t left;
    const uint8_t *out = io_at(1, offset, &left);
    if (n > left) n = left; /* one output tensor per reply: the host asks again for the rest */
    reply(f->opcode, f->seq, CIM_ST_OK, out ? out : (const uint8_t *)"", (uint16_t)n);
}

/* RUN_MARKED: `count` inferences back to back (power profiling). The count is bounded
 * (CIM_RUN_MARKED_MAX, ERR_BAD_ARG beyond it, payload: the maximum), and the UART is polled between
 * inferences: any byte from the host stops the run after the current inference with ERR_ABORTED
 * (payload as OK: done, cycles, instret). The byte is kept and parsed afterwards, so the frame it
 * starts is still served. */
static void cmd_run_marked(const cim_frame_t *f) {
    if (!need_image(f)) return;
    if (f->length != 4) {
        reply(f->opcode, f->seq, CIM_ST_ERR_BAD_ARG, 0, 0);
        return;
    }
    uint32_t count = cim_get_u32(f->payload);
    if (count > CIM_RUN_MARKED_MAX) {
        reply_code(f->opcode, f->seq, CIM_ST_ERR_BAD_ARG, (int32_t)CIM_RUN_MARKED_MAX);
        return;
    }
    uint64_t total_cycles = 0, total_instret = 0;
    uint32_t done = 0;
    uint8_t status = CIM_ST_OK;
    for (; done < count; done++) {
        if (con.cfg.poll) {
            int c = con.cfg.poll();
            if (c >= 0) {
                con.pending = c;
                status = CIM_ST_ERR_ABORTED;
                break;
            }
        }
        uint64_t cycles, instret;
        int rc = run_one(&cycles, &instret);
        if (rc != 0) {
            uint8_t p[8];
            cim_put_u32(p, (uint32_t)rc);
            cim_put_u32(p + 4, done);
            reply(f->opcode, f->seq, CIM_ST_ERR_RUNTIME, p, sizeof p);
            return;
        }
        total_cycles += cycles;
        total_instret += instret;
    }
    uint8_t p[20];
    cim_put_u32(p, done);
    cim_put_u64(p + 4, total_cycles);
    cim_put_u64(p + 12, total_instret);
    reply(f->opcode, f->seq, status, p, sizeof p);
}

static void cmd_get_counters(const cim_frame_t *f) {
    tlv_t t = {.len = 0};
    tlv_u64(&t, CIM_CNT_CYCLES, con.last_cycles);
    tlv_u64(&t, CIM_CNT_INSTRET, con.last_instret);
    if (con.cfg.cim_ops) tlv_u64(&t, CIM_CNT_CIM_OPS, con.cfg.cim_ops());
    if (con.cfg.wait_insns) tlv_u64(&t, CIM_CNT_WAIT_INSNS, con.cfg.wait_insns());
    tlv_u32(&t, CIM_CNT_INFERENCES, con.inferences);
    if (con.loaded) {
        tlv_u32(&t, CIM_CNT_ARENA_USED, cim_rt_arena_used());
        tlv_u32(&t, CIM_CNT_INPUT_SIZE, input_size());
        tlv_u32(&t, CIM_CNT_OUTPUT_SIZE, output_size());
    }
    reply(f->opcode, f->seq, CIM_ST_OK, t.buf, t.len);
}

static void cmd_reset_state(const cim_frame_t *f) {
    if (!need_image(f)) return;
    if (f->length != 0) {
        reply(f->opcode, f->seq, CIM_ST_ERR_BAD_ARG, 0, 0);
        return;
    }
    uint8_t p[4];
    cim_put_u32(p, cim_rt_reset_state());
    reply(f->opcode, f->seq, CIM_ST_OK, p, sizeof p);
}

static void cmd_set_marker(const cim_frame_t *f) {
    if (f->length != 1) {
        reply(f->opcode, f->seq, CIM_ST_ERR_BAD_ARG, 0, 0);
        return;
    }
    con.cfg.marker(f->payload[0] != 0);
    reply(f->opcode, f->seq, CIM_ST_OK, 0, 0);
}

static void dispatch(const cim_frame_t *f) {
    switch (f->opcode) {
    case CIM_OP_PING: cmd_ping(f); break;
    case CIM_OP_INFO: cmd_info(f); break;
    case CIM_OP_RESET: cmd_reset(f); break;
    case CIM_OP_LOAD_IMAGE: cmd_load_image(f); break;
    case CIM_OP_COMMIT_IMAGE: cmd_commit_image(f); break;
    case CIM_OP_SET_INPUT: cmd_set_input(f); break;
    case CIM_OP_INVOKE: cmd_invoke(f); break;
    case CIM_OP_GET_OUTPUT: cmd_get_output(f); break;
    case CIM_OP_RUN_MARKED: cmd_run_marked(f); break;
    case CIM_OP_RESET_STATE: cmd_reset_state(f); break;
    case CIM_OP_GET_COUNTERS: cmd_get_counters(f); break;
    case CIM_OP_SET_MARKER: cmd_set_marker(f); break;
    default: reply(f->opcode, f->seq, CIM_ST_ERR_UNKNOWN_OPCODE, 0, 0); break;
    }
}

int cim_console_init(const cim_console_cfg_t *cfg) {
    memset(&con, 0, sizeof con);
    con.cfg = *cfg;
    con.pending = -1;
    cim_frame_rx_init(&con.rx, cfg->rx_buf, cfg->rx_cap);
    if (cfg->embedded_image && cfg->embedded_size) {
        int rc = load(cfg->embedded_image, cfg->embedded_size);
        if (rc != 0) return rc;
        cim_sha256(cfg->embedded_image, cfg->embedded_size, con.image_sha);
    }
    return 0;
}

static void feed_one(uint8_t byte) {
    cim_frame_t f;
    int r = cim_frame_rx_feed(&con.rx, byte, &f);
    if (r == CIM_RX_FRAME) {
        if (!(f.flags & CIM_FLAG_RESPONSE)) dispatch(&f); /* never answer a response */
    } else if (r < 0 && f.has_header) {
        reply(f.opcode, f.seq, (uint8_t)-r, 0, 0); /* NAK: the host resends */
    }
}

void cim_console_feed(uint8_t byte) {
    feed_one(byte);
    /* The byte that stopped a RUN_MARKED belongs to the next frame. A run only starts from a whole
     * frame, after which the parser is empty, so this byte cannot complete another run at once. */
    while (con.pending >= 0) {
        uint8_t b = (uint8_t)con.pending;
        con.pending = -1;
        feed_one(b);
    }
}

int cim_console_image_loaded(void) { return con.loaded; }
