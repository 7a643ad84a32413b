/* Bootloader core: protocol commands, slots, uploads, boot decision (see cim_bl.h, docs/bootloader.md). */
#if defined(CIM_BOOTLOADER) || defined(CIM_BL_HOST)

#include "cim_bl.h"

#include "cim_frame.h"
#include "cim_protocol.h"
#include "sha256.h"

#define NO_SLOT 0xFFu
#define COPY_BLOCK 4096u

typedef struct {
    uint8_t open;       /* an upload session exists */
    uint8_t kind;
    uint8_t slot;
    uint8_t flags;
    uint32_t size;      /* image bytes */
    uint32_t next;      /* confirmed offset: every byte below it is programmed */
    uint32_t erased_to; /* flash offset up to which sectors were erased for this session */
    uint8_t sha[32];
} session_t;

static struct {
    cim_bl_cfg_t cfg;
    cim_frame_rx_t rx;
    session_t s;
    uint32_t baud;
    int synced;
    int window;
} bl;

static _Alignas(4) uint8_t work[COPY_BLOCK]; /* read-back, copy and header staging buffer */

/* ---- little helpers ------------------------------------------------------------------------- */
static void bl_putc(void *ctx, uint8_t b) {
    (void)ctx;
    bl.cfg.putc(b);
}

static void reply(const cim_frame_t *f, uint8_t status, const uint8_t *p, uint16_t n) {
    cim_frame_send(bl_putc, 0, f->opcode, CIM_FLAG_RESPONSE, f->seq, status, p, n);
}

static uint32_t rd32(uint32_t off) {
    const volatile uint8_t *p = bl.cfg.flash + off;
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void flash_read(uint32_t off, uint8_t *dst, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) dst[i] = bl.cfg.flash[off + i];
}

static int bytes_eq(const uint8_t *a, const uint8_t *b, uint32_t n) {
    uint8_t d = 0;
    for (uint32_t i = 0; i < n; i++) d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

static void bytes_set(uint8_t *p, uint8_t v, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) p[i] = v;
}

static void bytes_cpy(uint8_t *d, const uint8_t *s, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) d[i] = s[i];
}

uint32_t cim_bl_slot_offset(uint32_t slot) {
    switch (slot) {
    case CIM_BL_SLOT_APP_PRIMARY: return CIM_BL_APP_PRIMARY_OFFSET;
    case CIM_BL_SLOT_APP_STAGING: return CIM_BL_APP_STAGING_OFFSET;
    case CIM_BL_SLOT_MODEL_A: return CIM_BL_MODEL_A_OFFSET;
    default: return CIM_BL_MODEL_B_OFFSET;
    }
}

uint32_t cim_bl_slot_size(uint32_t slot) {
    switch (slot) {
    case CIM_BL_SLOT_APP_PRIMARY: return CIM_BL_APP_PRIMARY_SIZE;
    case CIM_BL_SLOT_APP_STAGING: return CIM_BL_APP_STAGING_SIZE;
    case CIM_BL_SLOT_MODEL_A: return CIM_BL_MODEL_A_SIZE;
    default: return CIM_BL_MODEL_B_SIZE;
    }
}

static uint32_t slot_capacity(uint32_t slot) { return cim_bl_slot_size(slot) - CIM_BL_HEADER_SIZE; }

uint32_t cim_bl_session_slot(void) { return bl.s.open ? bl.s.slot : NO_SLOT; }

/* Program n bytes (any length) at a 4-aligned flash offset; a short tail is padded with 0xFF
 * (the erased value, so programming it changes nothing). Reads back to catch a failing part. */
#ifdef CIM_BL_HOST
int cim_bl_dbg_installing; /* host harness: writes to the primary slot are expected now */
#endif

static int program(uint32_t off, const uint8_t *p, uint32_t n) {
    uint32_t whole = n & ~3u;
    if (whole && bl.cfg.program(off, p, whole) != 0) return -1;
    if (n > whole) {
        uint8_t tail[4] = {0xFF, 0xFF, 0xFF, 0xFF};
        for (uint32_t i = whole; i < n; i++) tail[i - whole] = p[i];
        if (bl.cfg.program(off + whole, tail, 4) != 0) return -1;
    }
    for (uint32_t i = 0; i < n; i++)
        if (bl.cfg.flash[off + i] != p[i]) return -1;
    return 0;
}

static int program_word(uint32_t off, uint32_t v) {
    uint8_t b[4];
    cim_put_u32(b, v);
    return program(off, b, 4);
}

/* Erase every sector of [from, to) (flash offsets, from sector aligned). */
static int erase_range(uint32_t from, uint32_t to) {
    for (uint32_t a = from; a < to; a += CIM_BL_SECTOR)
        if (bl.cfg.erase(a) != 0) return -1;
    return 0;
}

/* ---- slot headers --------------------------------------------------------------------------- */
typedef struct {
    int present;   /* magic, version and CRC fine */
    uint8_t kind;
    uint16_t flags;
    uint32_t size;
    uint32_t seq;
    int committed;
    int done;
    int invalid;
    uint8_t sha[32];
    uint8_t sig[64];
} header_t;

static void read_header(uint32_t slot, header_t *h) {
    uint32_t base = cim_bl_slot_offset(slot);
    uint8_t fixed[CIM_BL_FIXED_SIZE];
    flash_read(base, fixed, sizeof fixed);
    h->present = cim_get_u32(fixed + CIM_BL_HDR_MAGIC) == CIM_BL_SLOT_MAGIC &&
                 fixed[CIM_BL_HDR_VERSION] == CIM_BL_SLOT_LAYOUT_VERSION &&
                 cim_proto_crc32(fixed, CIM_BL_FIXED_SIZE) == rd32(base + CIM_BL_HDR_CRC);
    h->kind = fixed[CIM_BL_HDR_KIND];
    h->flags = cim_get_u16(fixed + CIM_BL_HDR_FLAGS);
    h->size = cim_get_u32(fixed + CIM_BL_HDR_SIZE);
    h->seq = cim_get_u32(fixed + CIM_BL_HDR_SEQ);
    bytes_cpy(h->sha, fixed + CIM_BL_HDR_SHA256, 32);
    bytes_cpy(h->sig, fixed + CIM_BL_HDR_SIG, 64);
    if (h->present && h->size > slot_capacity(slot)) h->present = 0;
    h->committed = h->present && rd32(base + CIM_BL_HDR_COMMIT) == CIM_BL_COMMIT_MAGIC;
    h->done = h->present && rd32(base + CIM_BL_HDR_DONE) == CIM_BL_DONE_MAGIC;
    h->invalid = h->present && rd32(base + CIM_BL_HDR_INVALID) != 0xFFFFFFFFu;
}

static int usable(const header_t *h) { return h->present && h->committed && !h->invalid; }

static void slot_hash(uint32_t slot, uint32_t from, uint32_t n, uint8_t out[32]) {
    cim_sha256_t s;
    cim_sha256_init(&s);
    uint32_t off = cim_bl_slot_offset(slot) + CIM_BL_HEADER_SIZE + from;
    while (n) {
        uint32_t k = n < COPY_BLOCK ? n : COPY_BLOCK;
        flash_read(off, work, k);
        cim_sha256_update(&s, work, k);
        off += k;
        n -= k;
    }
    cim_sha256_final(&s, out);
}

/* The signed message: prefix | kind | size | sha256 (docs/bootloader.md). */
static int signature_ok(const header_t *h) {
    if (!bl.cfg.pubkey) return !bl.cfg.signed_only;
    if (!(h->flags & CIM_BL_HFLAG_SIGNED)) return !bl.cfg.signed_only;
    static const uint8_t prefix[] = CIM_BL_SIG_PREFIX;
    uint8_t msg[CIM_BL_SIG_PREFIX_LEN + 1 + 4 + 32];
    bytes_cpy(msg, prefix, CIM_BL_SIG_PREFIX_LEN);
    msg[CIM_BL_SIG_PREFIX_LEN] = h->kind;
    cim_put_u32(msg + CIM_BL_SIG_PREFIX_LEN + 1, h->size);
    bytes_cpy(msg + CIM_BL_SIG_PREFIX_LEN + 5, h->sha, 32);
    return cim_ed25519_verify(h->sig, msg, sizeof msg, bl.cfg.pubkey);
}

/* Full check of a committed slot: image hash and (when required) signature. */
static int slot_verified(uint32_t slot, const header_t *h) {
    uint8_t d[32];
    if (!usable(h)) return 0;
    slot_hash(slot, 0, h->size, d);
    return bytes_eq(d, h->sha, 32) && signature_ok(h);
}

static void kill_slot(uint32_t slot) {
    (void)program_word(cim_bl_slot_offset(slot) + CIM_BL_HDR_INVALID, 0u);
}

/* The model slot the application runs: the usable one with the highest sequence number. */
static uint32_t active_model(void) {
    header_t a, b;
    read_header(CIM_BL_SLOT_MODEL_A, &a);
    read_header(CIM_BL_SLOT_MODEL_B, &b);
    if (usable(&a) && (!usable(&b) || a.seq >= b.seq)) return CIM_BL_SLOT_MODEL_A;
    if (usable(&b)) return CIM_BL_SLOT_MODEL_B;
    return NO_SLOT;
}

/* Write the fixed header (fields, CRC) into an erased slot. */
static int write_fixed_header(uint32_t slot, uint8_t kind, uint16_t flags, uint32_t size, uint32_t seq,
                              const uint8_t sha[32], const uint8_t *sig) {
    uint8_t *h = work;
    bytes_set(h, 0xFF, CIM_BL_FIXED_SIZE + 4);
    cim_put_u32(h + CIM_BL_HDR_MAGIC, CIM_BL_SLOT_MAGIC);
    h[CIM_BL_HDR_VERSION] = CIM_BL_SLOT_LAYOUT_VERSION;
    h[CIM_BL_HDR_KIND] = kind;
    cim_put_u16(h + CIM_BL_HDR_FLAGS, flags);
    cim_put_u32(h + CIM_BL_HDR_SIZE, size);
    cim_put_u32(h + CIM_BL_HDR_SEQ, seq);
    bytes_cpy(h + CIM_BL_HDR_SHA256, sha, 32);
    if (sig) bytes_cpy(h + CIM_BL_HDR_SIG, sig, 64);
    cim_put_u32(h + CIM_BL_HDR_CRC, cim_proto_crc32(h, CIM_BL_FIXED_SIZE));
    return program(cim_bl_slot_offset(slot), h, CIM_BL_FIXED_SIZE + 4);
}

/* Copy the verified staging image into the primary slot (the application executes there).
 * Power loss at any point is safe: the primary slot's commit word is written last, the staging
 * slot keeps its image until the DONE word, and the next boot repeats the install. */
static int install_copy(const header_t *stp);

static int install(void) {
    header_t st;
    read_header(CIM_BL_SLOT_APP_STAGING, &st);
    if (!usable(&st)) return -1;
#ifdef CIM_BL_HOST
    cim_bl_dbg_installing = 1;
#endif
    int rc = install_copy(&st);
#ifdef CIM_BL_HOST
    cim_bl_dbg_installing = 0;
#endif
    return rc;
}

static int install_copy(const header_t *stp) {
    header_t st = *stp;
    uint32_t dst = CIM_BL_APP_PRIMARY_OFFSET, src = CIM_BL_APP_STAGING_OFFSET;
    uint32_t total = CIM_BL_HEADER_SIZE + st.size;
    uint32_t end = dst + ((total + CIM_BL_SECTOR - 1u) / CIM_BL_SECTOR) * CIM_BL_SECTOR;
    if (erase_range(dst, end) != 0) return -1;
    for (uint32_t o = CIM_BL_HEADER_SIZE; o < total; o += COPY_BLOCK) {
        uint32_t k = total - o < COPY_BLOCK ? total - o : COPY_BLOCK;
        flash_read(src + o, work, k);
        if (program(dst + o, work, k) != 0) return -1;
    }
    uint8_t sha[32], sig[64];
    bytes_cpy(sha, st.sha, 32);
    bytes_cpy(sig, st.sig, 64);
    if (write_fixed_header(CIM_BL_SLOT_APP_PRIMARY, st.kind, st.flags, st.size, st.seq, sha, sig) != 0) return -1;
    uint8_t d[32];
    slot_hash(CIM_BL_SLOT_APP_PRIMARY, 0, st.size, d);
    if (!bytes_eq(d, sha, 32)) return -1;
    if (program_word(dst + CIM_BL_HDR_COMMIT, CIM_BL_COMMIT_MAGIC) != 0) return -1;
    return program_word(src + CIM_BL_HDR_DONE, CIM_BL_DONE_MAGIC);
}

int cim_bl_boot_check(void) {
    header_t h;
    /* Models: kill committed slots whose image no longer matches (the app trusts the flag). */
    for (uint32_t m = CIM_BL_SLOT_MODEL_A; m <= CIM_BL_SLOT_MODEL_B; m++) {
        read_header(m, &h);
        if (usable(&h) && (h.kind != CIM_BL_KIND_MODEL || !slot_verified(m, &h))) kill_slot(m);
    }
    /* A staging image committed but not yet installed (power lost during install, or FINISH). */
    header_t st;
    read_header(CIM_BL_SLOT_APP_STAGING, &st);
    if (usable(&st) && !st.done) {
        if (st.kind == CIM_BL_KIND_APP && slot_verified(CIM_BL_SLOT_APP_STAGING, &st)) (void)install();
        else kill_slot(CIM_BL_SLOT_APP_STAGING);
    }
    read_header(CIM_BL_SLOT_APP_PRIMARY, &h);
    if (h.kind == CIM_BL_KIND_APP && slot_verified(CIM_BL_SLOT_APP_PRIMARY, &h)) return 1;
    /* Primary damaged: recover from a verified staging copy if one exists. */
    read_header(CIM_BL_SLOT_APP_STAGING, &st);
    if (st.kind == CIM_BL_KIND_APP && slot_verified(CIM_BL_SLOT_APP_STAGING, &st) && install() == 0) {
        read_header(CIM_BL_SLOT_APP_PRIMARY, &h);
        return slot_verified(CIM_BL_SLOT_APP_PRIMARY, &h);
    }
    return 0;
}

/* ---- commands ------------------------------------------------------------------------------- */
static void cmd_ping(const cim_frame_t *f) {
    /* version u16, role u8, 0, max_payload u32, then the echo streamed from the rx buffer */
    uint8_t head[8];
    uint32_t echo = f->length;
    uint32_t maxp = bl.cfg.rx_cap - CIM_HEADER_SIZE - CIM_CRC_SIZE;
    if (echo > maxp - 8u) echo = maxp - 8u;
    cim_put_u16(head, CIM_PROTOCOL_VERSION);
    head[2] = CIM_ROLE_BOOTLOADER;
    head[3] = 0;
    cim_put_u32(head + 4, maxp);
    cim_frame_tx_t tx;
    cim_frame_tx_begin(&tx, bl_putc, 0, f->opcode, CIM_FLAG_RESPONSE, f->seq, CIM_ST_OK, (uint16_t)(8u + echo));
    cim_frame_tx_write(&tx, head, 8);
    cim_frame_tx_write(&tx, f->payload, echo);
    cim_frame_tx_end(&tx);
}

static uint32_t tlv(uint8_t *p, uint32_t at, uint8_t tag, const void *v, uint32_t n) {
    p[at] = tag;
    p[at + 1] = (uint8_t)n;
    bytes_cpy(p + at + 2, (const uint8_t *)v, n);
    return at + 2 + n;
}

static uint32_t tlv_u32(uint8_t *p, uint32_t at, uint8_t tag, uint32_t v) {
    uint8_t b[4];
    cim_put_u32(b, v);
    return tlv(p, at, tag, b, 4);
}

static uint32_t str_len(const char *s) {
    uint32_t n = 0;
    while (s && s[n] && n < 64u) n++;
    return n;
}

static void cmd_info(const cim_frame_t *f) {
    uint8_t *p = work; /* the reply is built in the work buffer (never in use between commands) */
    uint32_t n = 0;
    uint8_t b[2];
    cim_put_u16(b, CIM_PROTOCOL_VERSION);
    n = tlv(p, n, CIM_INFO_PROTO_VERSION, b, 2);
    b[0] = CIM_ROLE_BOOTLOADER;
    n = tlv(p, n, CIM_INFO_ROLE, b, 1);
    n = tlv_u32(p, n, CIM_INFO_MAX_PAYLOAD, bl.cfg.rx_cap - CIM_HEADER_SIZE - CIM_CRC_SIZE);
    n = tlv(p, n, CIM_INFO_BOARD, bl.cfg.board, str_len(bl.cfg.board));
    n = tlv(p, n, CIM_INFO_FW_VERSION, CIM_BL_VERSION, sizeof CIM_BL_VERSION - 1u);
    b[0] = (uint8_t)(bl.cfg.signed_only && bl.cfg.pubkey ? 1u : 0u);
    n = tlv(p, n, CIM_INFO_SIGNED_ONLY, b, 1);
    n = tlv_u32(p, n, CIM_INFO_FLASH_SECTOR, CIM_BL_SECTOR);
    n = tlv(p, n, CIM_INFO_TARGETS, bl.cfg.targets, str_len(bl.cfg.targets));
    n = tlv_u32(p, n, CIM_INFO_APP_ENTRY, CIM_BL_APP_ENTRY);
    b[0] = CIM_BL_SLOT_COUNT;
    n = tlv(p, n, CIM_INFO_SLOT_COUNT, b, 1);
    reply(f, CIM_ST_OK, p, (uint16_t)n);
}

static void cmd_slots(const cim_frame_t *f) {
    uint8_t *p = work;
    uint32_t model = active_model();
    header_t prim;
    read_header(CIM_BL_SLOT_APP_PRIMARY, &prim);
    for (uint32_t i = 0; i < CIM_BL_SLOT_COUNT; i++) {
        header_t h;
        read_header(i, &h);
        uint8_t *r = p + i * CIM_BL_SLOT_RECORD_SIZE;
        uint8_t state = CIM_BL_STATE_EMPTY;
        if (h.present) {
            if (h.invalid) state = CIM_BL_STATE_INVALID;
            else if (!h.committed) state = CIM_BL_STATE_RECEIVING;
            else if (h.done) state = CIM_BL_STATE_INSTALLED;
            else state = CIM_BL_STATE_VALID;
        }
        uint8_t flags = (uint8_t)((h.present && (h.flags & CIM_BL_HFLAG_SIGNED)) ? CIM_BL_SFLAG_SIGNED : 0u);
        if ((i == CIM_BL_SLOT_APP_PRIMARY && usable(&prim)) || i == model) flags |= CIM_BL_SFLAG_ACTIVE;
        r[0] = (uint8_t)i;
        r[1] = h.present ? h.kind : 0u;
        r[2] = state;
        r[3] = flags;
        cim_put_u32(r + 4, CIM_BL_FLASH_BASE + cim_bl_slot_offset(i));
        cim_put_u32(r + 8, slot_capacity(i));
        cim_put_u32(r + 12, h.present ? h.size : 0u);
        cim_put_u32(r + 16, h.present ? h.seq : 0u);
        cim_put_u32(r + 20, (bl.s.open && bl.s.slot == i) ? bl.s.next : 0u);
        if (h.present) bytes_cpy(r + 24, h.sha, 32);
        else bytes_set(r + 24, 0, 32);
    }
    reply(f, CIM_ST_OK, p, (uint16_t)(CIM_BL_SLOT_COUNT * CIM_BL_SLOT_RECORD_SIZE));
}

static void reply_next(const cim_frame_t *f, uint8_t status) {
    uint8_t b[4];
    cim_put_u32(b, bl.s.next);
    reply(f, status, b, 4);
}

/* BEGIN: kind u8, flags u8, 0 u16, size u32, sha256[32], [signature 64]. */
static void cmd_begin(const cim_frame_t *f) {
    if (f->length != 40u && f->length != 104u) return reply(f, CIM_ST_ERR_BAD_ARG, 0, 0);
    const uint8_t *p = f->payload;
    uint8_t kind = p[0];
    uint16_t flags = f->length == 104u ? CIM_BL_HFLAG_SIGNED : 0u;
    uint32_t size = cim_get_u32(p + 4);
    const uint8_t *sha = p + 8;
    if (kind != CIM_BL_KIND_APP && kind != CIM_BL_KIND_MODEL) return reply(f, CIM_ST_ERR_BAD_ARG, 0, 0);
    if (bl.cfg.signed_only && bl.cfg.pubkey && !(flags & CIM_BL_HFLAG_SIGNED))
        return reply(f, CIM_ST_ERR_SIGNATURE, 0, 0);
    uint32_t slot, seq = 1;
    header_t a, b;
    if (kind == CIM_BL_KIND_APP) {
        slot = CIM_BL_SLOT_APP_STAGING;
        read_header(CIM_BL_SLOT_APP_PRIMARY, &a);
        read_header(CIM_BL_SLOT_APP_STAGING, &b);
    } else {
        /* Never the model the application runs now. */
        slot = active_model() == CIM_BL_SLOT_MODEL_A ? CIM_BL_SLOT_MODEL_B : CIM_BL_SLOT_MODEL_A;
        read_header(CIM_BL_SLOT_MODEL_A, &a);
        read_header(CIM_BL_SLOT_MODEL_B, &b);
    }
    if (a.present && a.seq != 0xFFFFFFFFu && a.seq >= seq) seq = a.seq + 1u;
    if (b.present && b.seq != 0xFFFFFFFFu && b.seq >= seq) seq = b.seq + 1u;
    if (size == 0u || size > slot_capacity(slot)) return reply(f, CIM_ST_ERR_RANGE, 0, 0);

    uint8_t out[12];
    /* Resume: the same image as the open session continues at its confirmed offset. */
    if (bl.s.open && bl.s.kind == kind && bl.s.size == size && bl.s.slot == slot && bl.s.flags == flags &&
        bytes_eq(bl.s.sha, sha, 32)) {
        out[0] = (uint8_t)slot;
        out[1] = out[2] = out[3] = 0;
        cim_put_u32(out + 4, bl.s.next);
        cim_put_u32(out + 8, CIM_MAX_DATA);
        return reply(f, CIM_ST_OK, out, 12);
    }
    bl.s.open = 0;
    uint32_t base = cim_bl_slot_offset(slot);
    uint8_t shacopy[32], sig[64];
    bytes_cpy(shacopy, sha, 32);
    if (flags & CIM_BL_HFLAG_SIGNED) bytes_cpy(sig, p + 40, 64);
    if (bl.cfg.erase(base) != 0) return reply(f, CIM_ST_ERR_FLASH, 0, 0);
    if (write_fixed_header(slot, kind, flags, size, seq, shacopy, (flags & CIM_BL_HFLAG_SIGNED) ? sig : 0) != 0)
        return reply(f, CIM_ST_ERR_FLASH, 0, 0);
    bl.s.open = 1;
    bl.s.kind = kind;
    bl.s.slot = (uint8_t)slot;
    bl.s.flags = (uint8_t)flags;
    bl.s.size = size;
    bl.s.next = 0;
    bl.s.erased_to = base + CIM_BL_SECTOR;
    bytes_cpy(bl.s.sha, shacopy, 32);
    out[0] = (uint8_t)slot;
    out[1] = out[2] = out[3] = 0;
    cim_put_u32(out + 4, 0);
    cim_put_u32(out + 8, CIM_MAX_DATA);
    reply(f, CIM_ST_OK, out, 12);
}

/* Program one chunk at image offset `off` (the session's rules: sequential, idempotent resends). */
static uint8_t write_chunk(uint32_t off, const uint8_t *data, uint32_t n) {
    if (!bl.s.open) return CIM_ST_ERR_STATE;
    if (n == 0u || n > CIM_MAX_DATA || (off & 3u) != 0u) return CIM_ST_ERR_BAD_ARG;
    if (off > bl.s.size || n > bl.s.size - off) return CIM_ST_ERR_RANGE;
    uint32_t at = cim_bl_slot_offset(bl.s.slot) + CIM_BL_HEADER_SIZE + off;
    if (off + n <= bl.s.next) {
        /* A resend of a chunk we already hold: fine when identical. */
        for (uint32_t i = 0; i < n; i++)
            if (bl.cfg.flash[at + i] != data[i]) return CIM_ST_ERR_RANGE;
        return CIM_ST_OK;
    }
    if (off != bl.s.next) return CIM_ST_ERR_RANGE; /* a gap or a partial overlap: reply says where */
    if ((n & 3u) != 0u && off + n != bl.s.size) return CIM_ST_ERR_BAD_ARG; /* only the last chunk is short */
    while (bl.s.erased_to < at + n) {
        if (bl.cfg.erase(bl.s.erased_to) != 0) return CIM_ST_ERR_FLASH;
        bl.s.erased_to += CIM_BL_SECTOR;
    }
    if (program(at, data, n) != 0) return CIM_ST_ERR_FLASH;
    bl.s.next = off + n;
    return CIM_ST_OK;
}

static void cmd_write(const cim_frame_t *f) {
    if (f->length < 5u) return reply(f, CIM_ST_ERR_BAD_ARG, 0, 0);
    uint8_t st = write_chunk(cim_get_u32(f->payload), f->payload + 4, f->length - 4u);
    if (!bl.s.open) return reply(f, st, 0, 0);
    reply_next(f, st);
}

static void cmd_finish(const cim_frame_t *f) {
    uint8_t out[2];
    if (!bl.s.open) {
        /* A resent FINISH whose reply was lost: answer from the slot's state. */
        return reply(f, CIM_ST_ERR_STATE, 0, 0);
    }
    if (bl.s.next != bl.s.size) return reply_next(f, CIM_ST_ERR_STATE);
    uint32_t slot = bl.s.slot;
    header_t h;
    read_header(slot, &h);
    uint8_t d[32];
    slot_hash(slot, 0, bl.s.size, d);
    bl.s.open = 0;
    if (!h.present || !bytes_eq(d, bl.s.sha, 32)) return reply(f, CIM_ST_ERR_HASH, d, 32);
    if (!signature_ok(&h)) return reply(f, CIM_ST_ERR_SIGNATURE, 0, 0);
    if (program_word(cim_bl_slot_offset(slot) + CIM_BL_HDR_COMMIT, CIM_BL_COMMIT_MAGIC) != 0)
        return reply(f, CIM_ST_ERR_FLASH, 0, 0);
    if (h.kind == CIM_BL_KIND_APP && install() != 0) return reply(f, CIM_ST_ERR_FLASH, 0, 0);
    out[0] = (uint8_t)slot;
    out[1] = h.kind == CIM_BL_KIND_APP ? CIM_BL_STATE_INSTALLED : CIM_BL_STATE_VALID;
    reply(f, CIM_ST_OK, out, 2);
}

static void cmd_hash(const cim_frame_t *f) {
    if (f->length != 12u) return reply(f, CIM_ST_ERR_BAD_ARG, 0, 0);
    uint32_t slot = f->payload[0], off = cim_get_u32(f->payload + 4), n = cim_get_u32(f->payload + 8);
    if (slot >= CIM_BL_SLOT_COUNT) return reply(f, CIM_ST_ERR_BAD_ARG, 0, 0);
    if (off > slot_capacity(slot) || n > slot_capacity(slot) - off) return reply(f, CIM_ST_ERR_RANGE, 0, 0);
    uint8_t d[32];
    slot_hash(slot, off, n, d);
    reply(f, CIM_ST_OK, d, 32);
}

static void cmd_erase(const cim_frame_t *f) {
    if (f->length != 1u || f->payload[0] >= CIM_BL_SLOT_COUNT) return reply(f, CIM_ST_ERR_BAD_ARG, 0, 0);
    uint32_t slot = f->payload[0];
    header_t h;
    read_header(CIM_BL_SLOT_APP_PRIMARY, &h);
    /* The booting application and the running model are never erased by command. */
    if ((slot == CIM_BL_SLOT_APP_PRIMARY && usable(&h)) || slot == active_model())
        return reply(f, CIM_ST_ERR_STATE, 0, 0);
    if (bl.s.open && bl.s.slot == slot) bl.s.open = 0;
    if (bl.cfg.erase(cim_bl_slot_offset(slot)) != 0) return reply(f, CIM_ST_ERR_FLASH, 0, 0);
    reply(f, CIM_ST_OK, 0, 0);
}

static uint32_t pending_baud;

static int dispatch(const cim_frame_t *f) {
    switch (f->opcode) {
    case CIM_OP_PING: cmd_ping(f); break;
    case CIM_OP_INFO: cmd_info(f); break;
    case CIM_OP_RESET: reply(f, CIM_ST_OK, 0, 0); return CIM_BL_ACT_RESET;
    case CIM_OP_BL_SLOTS: cmd_slots(f); break;
    case CIM_OP_BL_BEGIN: cmd_begin(f); break;
    case CIM_OP_BL_WRITE: cmd_write(f); break;
    case CIM_OP_BL_FINISH: cmd_finish(f); break;
    case CIM_OP_BL_HASH: cmd_hash(f); break;
    case CIM_OP_BL_ERASE: cmd_erase(f); break;
    case CIM_OP_BL_BAUD:
        if (f->length != 4u || cim_get_u32(f->payload) < 1200u || cim_get_u32(f->payload) > 4000000u) {
            reply(f, CIM_ST_ERR_BAD_ARG, 0, 0);
            break;
        }
        pending_baud = cim_get_u32(f->payload);
        reply(f, CIM_ST_OK, 0, 0);
        return CIM_BL_ACT_BAUD;
    case CIM_OP_BL_BOOT: {
        header_t h;
        read_header(CIM_BL_SLOT_APP_PRIMARY, &h);
        if (!usable(&h)) {
            reply(f, CIM_ST_ERR_STATE, 0, 0);
            break;
        }
        reply(f, CIM_ST_OK, 0, 0);
        return CIM_BL_ACT_BOOT;
    }
    default: reply(f, CIM_ST_ERR_UNKNOWN_OPCODE, 0, 0); break;
    }
    return CIM_BL_ACT_NONE;
}

#ifdef CIM_BL_HOST
/* Host harness: 1 when flash offset `off` must not be written by a command right now (the
 * bootloader itself, the booting application, the running model). */
int cim_bl_dbg_protected(uint32_t off);
int cim_bl_dbg_protected(uint32_t off) {
    if (off < CIM_BL_BOOTLOADER_SIZE) return 1;
    header_t h;
    read_header(CIM_BL_SLOT_APP_PRIMARY, &h);
    if (!cim_bl_dbg_installing && usable(&h) && off >= CIM_BL_APP_PRIMARY_OFFSET &&
        off < CIM_BL_APP_PRIMARY_OFFSET + CIM_BL_APP_PRIMARY_SIZE)
        return 1;
    uint32_t m = active_model();
    if (m != NO_SLOT && off >= cim_bl_slot_offset(m) && off < cim_bl_slot_offset(m) + cim_bl_slot_size(m)) return 1;
    return 0;
}
#endif

uint32_t cim_bl_new_baud(void) { return pending_baud; }
int cim_bl_synced(void) { return bl.synced; }
void cim_bl_set_window(int on) { bl.window = on; }

void cim_bl_init(const cim_bl_cfg_t *cfg) {
    bl.cfg = *cfg;
    bl.s.open = 0;
    bl.synced = 0;
    bl.window = 0;
    cim_frame_rx_init(&bl.rx, cfg->rx_buf, cfg->rx_cap);
}

int cim_bl_feed(uint8_t byte) {
    cim_frame_t f;
    int r = cim_frame_rx_feed(&bl.rx, byte, &f);
    if (r == CIM_RX_NONE) return CIM_BL_ACT_NONE;
    if (r < 0) {
        if (f.has_header && !(f.flags & CIM_FLAG_RESPONSE))
            cim_frame_send(bl_putc, 0, f.opcode, CIM_FLAG_RESPONSE, f.seq, (uint8_t)(-r), 0, 0);
        return CIM_BL_ACT_NONE;
    }
    if (f.flags & CIM_FLAG_RESPONSE) return CIM_BL_ACT_NONE; /* never answer a response */
    if (bl.window && (f.opcode < 0x40u || f.opcode > 0x5Fu)) {
        /* A host talking to the application caught the boot window: say so and boot at once, so
         * its resend reaches the application (only a bootloader command keeps the bootloader). */
        reply(&f, CIM_ST_ERR_BOOTING, 0, 0);
        return CIM_BL_ACT_START;
    }
    bl.synced = 1;
    bl.window = 0;
    return dispatch(&f);
}

#endif /* CIM_BOOTLOADER || CIM_BL_HOST */
