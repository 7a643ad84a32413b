/* ctypes shim over firmware/protocol for the host tests: decode a byte stream with the C
 * state machine and log each event, encode frames, CRC-32 and SHA-256. */
#include <stdint.h>
#include <string.h>

#include "cim_frame.h"
#include "sha256.h"

/* Event log record: kind i8 (1 frame, -status rejected), opcode u8, seq u16, flags u8,
 * status u8, has_header u8, length u16, payload. Returns bytes written or -1 if out is short. */
int32_t shim_decode(const uint8_t *in, uint32_t n, uint32_t cap, uint8_t *out, uint32_t out_cap) {
    static uint8_t buf[1u << 17];
    if (cap > sizeof buf) return -2;
    cim_frame_rx_t rx;
    cim_frame_rx_init(&rx, buf, cap);
    uint32_t w = 0;
    for (uint32_t i = 0; i < n; i++) {
        cim_frame_t f;
        int r = cim_frame_rx_feed(&rx, in[i], &f);
        if (r == CIM_RX_NONE) continue;
        uint32_t len = r == CIM_RX_FRAME ? f.length : 0;
        if (w + 9u + len > out_cap) return -1;
        out[w] = (uint8_t)(int8_t)r;
        out[w + 1] = f.opcode;
        cim_put_u16(out + w + 2, f.seq);
        out[w + 4] = r == CIM_RX_FRAME ? f.flags : 0;
        out[w + 5] = r == CIM_RX_FRAME ? f.status : 0;
        out[w + 6] = r == CIM_RX_FRAME ? 1 : f.has_header;
        cim_put_u16(out + w + 7, (uint16_t)len);
        if (len) memcpy(out + w + 9, f.payload, len);
        w += 9u + len;
    }
    return (int32_t)w;
}

typedef struct {
    uint8_t *p;
    uint32_t n, cap;
} sink_t;

static void sink_putc(void *ctx, uint8_t b) {
    sink_t *s = ctx;
    if (s->n < s->cap) s->p[s->n] = b;
    s->n++;
}

/* Encode one frame; the payload is sent in two pieces to exercise the streaming writer. */
int32_t shim_encode(uint8_t opcode, uint8_t flags, uint16_t seq, uint8_t status, const uint8_t *payload,
                    uint16_t len, uint8_t *out, uint32_t out_cap) {
    sink_t s = {out, 0, out_cap};
    cim_frame_tx_t tx;
    cim_frame_tx_begin(&tx, sink_putc, &s, opcode, flags, seq, status, len);
    cim_frame_tx_write(&tx, payload, len / 3u);
    cim_frame_tx_write(&tx, payload + len / 3u, len - len / 3u);
    cim_frame_tx_end(&tx);
    return s.n <= out_cap ? (int32_t)s.n : -1;
}

uint32_t shim_crc32(const uint8_t *data, uint32_t n) { return cim_proto_crc32(data, n); }

/* Hash in pieces of `step` bytes to exercise the block buffering. */
void shim_sha256(const uint8_t *data, uint32_t n, uint32_t step, uint8_t digest[32]) {
    cim_sha256_t s;
    cim_sha256_init(&s);
    if (step == 0) step = n ? n : 1;
    for (uint32_t i = 0; i < n; i += step) cim_sha256_update(&s, data + i, n - i < step ? n - i : step);
    cim_sha256_final(&s, digest);
}
