/* Serial link framing shared by the console and the bootloader (docs/serial-protocol.md).
 *
 * Wire: END, SLIP-escaped(header | payload | crc32_le), END.
 * Header (little-endian): opcode u8, flags u8, seq u16, length u16, status u8, reserved u8.
 * CRC-32 is the zlib/IEEE 802.3 CRC over header and payload.
 * Receiving needs one caller-supplied buffer (up to CIM_MAX_FRAME bytes); sending streams
 * bytes through a callback and needs no buffer. No heap, no globals. */
#ifndef CIM_FRAME_H
#define CIM_FRAME_H

#include <stdint.h>

#include "cim_protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cim_frame_rx_feed results: 0 nothing yet, 1 a valid frame, negative a rejected frame
 * whose status code (CIM_ST_*) is the negation. */
#define CIM_RX_NONE 0
#define CIM_RX_FRAME 1

typedef struct {
    uint8_t opcode;
    uint8_t flags;
    uint16_t seq;
    uint16_t length;        /* payload bytes */
    uint8_t status;
    uint8_t has_header;     /* on a rejected frame: opcode/seq were received (unchecked) */
    const uint8_t *payload; /* points into the receive buffer until the next feed */
} cim_frame_t;

typedef struct {
    uint8_t *buf;
    uint32_t cap;
    uint32_t len;
    uint8_t escape;
    uint8_t bad_escape;
    uint8_t overflow;
} cim_frame_rx_t;

uint32_t cim_proto_crc32_update(uint32_t crc, const uint8_t *data, uint32_t n);
uint32_t cim_proto_crc32(const uint8_t *data, uint32_t n);

void cim_frame_rx_init(cim_frame_rx_t *rx, uint8_t *buf, uint32_t cap);
void cim_frame_rx_reset(cim_frame_rx_t *rx);
/* Feed one received byte. On CIM_RX_FRAME `out` describes the frame. On a negative result,
 * `out->has_header` says whether `out->opcode`/`out->seq` arrived (4+ bytes, unchecked);
 * the caller may NAK with them. */
int cim_frame_rx_feed(cim_frame_rx_t *rx, uint8_t byte, cim_frame_t *out);

typedef void (*cim_putc_fn)(void *ctx, uint8_t byte);

typedef struct {
    cim_putc_fn putc;
    void *ctx;
    uint32_t crc;
    uint32_t remaining; /* payload bytes promised in the header and not yet written */
} cim_frame_tx_t;

/* Streaming send: begin (header with the final payload length), write payload pieces,
 * end (CRC and END). Writing more than promised is truncated; fewer is padded with 0. */
void cim_frame_tx_begin(cim_frame_tx_t *tx, cim_putc_fn putc, void *ctx, uint8_t opcode, uint8_t flags,
                        uint16_t seq, uint8_t status, uint16_t length);
void cim_frame_tx_write(cim_frame_tx_t *tx, const uint8_t *data, uint32_t n);
void cim_frame_tx_end(cim_frame_tx_t *tx);
/* One-shot send of a whole frame. */
void cim_frame_send(cim_putc_fn putc, void *ctx, uint8_t opcode, uint8_t flags, uint16_t seq, uint8_t status,
                    const uint8_t *payload, uint16_t length);

/* Little-endian field helpers (payloads are byte arrays, never cast to structs). */
static inline uint32_t cim_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint16_t cim_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline void cim_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void cim_put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void cim_put_u64(uint8_t *p, uint64_t v) {
    cim_put_u32(p, (uint32_t)v);
    cim_put_u32(p + 4, (uint32_t)(v >> 32));
}

#ifdef __cplusplus
}
#endif

#endif /* CIM_FRAME_H */
