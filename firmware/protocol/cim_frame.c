/* SLIP framing, CRC-32 and the receive state machine (see cim_frame.h). */
#include "cim_frame.h"

/* Nibble-wise CRC-32 (reflected 0xEDB88320): a 64-byte table, a fair trade between the
 * bitwise loop (slow on 4 KiB chunks) and a 1 KiB table (too big for a bootloader). */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t cim_proto_crc32_update(uint32_t crc, const uint8_t *data, uint32_t n) {
    crc = ~crc;
    for (uint32_t i = 0; i < n; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
    }
    return ~crc;
}

uint32_t cim_proto_crc32(const uint8_t *data, uint32_t n) { return cim_proto_crc32_update(0, data, n); }

void cim_frame_rx_reset(cim_frame_rx_t *rx) {
    rx->len = 0;
    rx->escape = 0;
    rx->bad_escape = 0;
    rx->overflow = 0;
}

void cim_frame_rx_init(cim_frame_rx_t *rx, uint8_t *buf, uint32_t cap) {
    rx->buf = buf;
    rx->cap = cap;
    cim_frame_rx_reset(rx);
}

static int header_fields(const cim_frame_rx_t *rx, cim_frame_t *out) {
    out->length = 0;
    out->payload = rx->buf;
    out->flags = 0;
    out->status = 0;
    out->has_header = rx->len >= 4;
    out->opcode = out->has_header ? rx->buf[0] : 0;
    out->seq = out->has_header ? cim_get_u16(rx->buf + 2) : 0;
    return out->has_header;
}

static int frame_end(cim_frame_rx_t *rx, cim_frame_t *out) {
    int result = CIM_RX_NONE;
    if (rx->overflow) {
        header_fields(rx, out);
        result = -(int)CIM_ST_ERR_TOO_LONG;
    } else if (rx->bad_escape || rx->escape) {
        if (header_fields(rx, out)) result = -(int)CIM_ST_ERR_FRAME;
    } else if (rx->len >= CIM_MIN_FRAME) {
        const uint8_t *b = rx->buf;
        uint32_t body = rx->len - CIM_CRC_SIZE;
        header_fields(rx, out);
        if (cim_proto_crc32(b, body) != cim_get_u32(b + body)) {
            result = -(int)CIM_ST_ERR_CRC;
        } else if (cim_get_u16(b + 4) != rx->len - CIM_MIN_FRAME) {
            result = -(int)CIM_ST_ERR_FRAME;
        } else {
            out->flags = b[1];
            out->length = cim_get_u16(b + 4);
            out->status = b[6];
            out->payload = b + CIM_HEADER_SIZE;
            result = CIM_RX_FRAME;
        }
    }
    cim_frame_rx_reset(rx);
    return result;
}

int cim_frame_rx_feed(cim_frame_rx_t *rx, uint8_t byte, cim_frame_t *out) {
    if (byte == CIM_SLIP_END) return frame_end(rx, out);
    if (rx->escape) {
        rx->escape = 0;
        if (byte == CIM_SLIP_ESC_END) {
            byte = CIM_SLIP_END;
        } else if (byte == CIM_SLIP_ESC_ESC) {
            byte = CIM_SLIP_ESC;
        } else {
            rx->bad_escape = 1;
        }
    } else if (byte == CIM_SLIP_ESC) {
        rx->escape = 1;
        return CIM_RX_NONE;
    }
    if (rx->len < rx->cap) {
        rx->buf[rx->len++] = byte;
    } else {
        rx->overflow = 1;
    }
    return CIM_RX_NONE;
}

static void put_escaped(cim_frame_tx_t *tx, const uint8_t *data, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        uint8_t b = data[i];
        if (b == CIM_SLIP_END) {
            tx->putc(tx->ctx, CIM_SLIP_ESC);
            tx->putc(tx->ctx, CIM_SLIP_ESC_END);
        } else if (b == CIM_SLIP_ESC) {
            tx->putc(tx->ctx, CIM_SLIP_ESC);
            tx->putc(tx->ctx, CIM_SLIP_ESC_ESC);
        } else {
            tx->putc(tx->ctx, b);
        }
    }
}

void cim_frame_tx_begin(cim_frame_tx_t *tx, cim_putc_fn putc, void *ctx, uint8_t opcode, uint8_t flags,
                        uint16_t seq, uint8_t status, uint16_t length) {
    uint8_t h[CIM_HEADER_SIZE];
    h[0] = opcode;
    h[1] = flags;
    cim_put_u16(h + 2, seq);
    cim_put_u16(h + 4, length);
    h[6] = status;
    h[7] = 0;
    tx->putc = putc;
    tx->ctx = ctx;
    tx->remaining = length;
    tx->crc = cim_proto_crc32(h, sizeof h);
    putc(ctx, CIM_SLIP_END);
    put_escaped(tx, h, sizeof h);
}

void cim_frame_tx_write(cim_frame_tx_t *tx, const uint8_t *data, uint32_t n) {
    if (n > tx->remaining) n = tx->remaining;
    tx->crc = cim_proto_crc32_update(tx->crc, data, n);
    tx->remaining -= n;
    put_escaped(tx, data, n);
}

void cim_frame_tx_end(cim_frame_tx_t *tx) {
    static const uint8_t zero = 0;
    while (tx->remaining) cim_frame_tx_write(tx, &zero, 1);
    uint8_t c[CIM_CRC_SIZE];
    cim_put_u32(c, tx->crc);
    put_escaped(tx, c, sizeof c);
    tx->putc(tx->ctx, CIM_SLIP_END);
}

void cim_frame_send(cim_putc_fn putc, void *ctx, uint8_t opcode, uint8_t flags, uint16_t seq, uint8_t status,
                    const uint8_t *payload, uint16_t length) {
    cim_frame_tx_t tx;
    cim_frame_tx_begin(&tx, putc, ctx, opcode, flags, seq, status, length);
    cim_frame_tx_write(&tx, payload, length);
    cim_frame_tx_end(&tx);
}
