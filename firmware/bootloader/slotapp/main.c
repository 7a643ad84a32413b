/* The cimsdk console application as a slot application (docs/bootloader.md): linked to execute in
 * place from the primary slot (slot-app.ld), it runs the weight image straight from the active
 * model slot in flash: the committed model slot with the highest sequence number, exactly the
 * one the bootloader reports as ACTIVE (the mailbox backend runs a RAM copy of it: its coprocessor
 * only sees RAM). A frame with a bootloader opcode (0x40-0x5F) makes it
 * reboot into the bootloader (reset mailbox word + system reset), so `cimsdk flash` can take
 * over a running board; the console's RESET reboots normally. */
#if defined(CIM_SLOT_APP)

#include <stdint.h>

#include "board.h"
#include "cim_bl_layout.h"
#include "cim_console.h"
#include "cim_frame.h"
#include "cim_protocol.h"
#include "cim_runtime.h"

#if defined(CIM_BACKEND_MAILBOX) || defined(CIM_BACKEND_SOFT)
#include "cim_hal.h"
#define HAVE_HAL 1
#endif

#ifndef CIM_FW_VERSION
#define CIM_FW_VERSION "0.1.0"
#endif
#ifndef CIM_BACKEND_NAME
#define CIM_BACKEND_NAME "none"
#endif
#ifndef CIM_IMAGE_BUF_SIZE
#define CIM_IMAGE_BUF_SIZE (384u * 1024u)
#endif
#ifndef CIM_ARENA_SIZE
#define CIM_ARENA_SIZE 0u
#endif

static _Alignas(16) uint8_t image_buf[CIM_IMAGE_BUF_SIZE];
static _Alignas(4) uint8_t rx_buf[CIM_MAX_FRAME];
static _Alignas(4) uint8_t bl_rx_buf[64]; /* second parser: only looks for bootloader opcodes */

static void uart_tx(uint8_t byte) { board_uart_putc(byte); }
static uint64_t cycles(void) { return board_cycles(); }
static uint64_t instret(void) { return board_instret(); }
static void marker(int on) { board_marker(on); }
static int uart_poll(void) { return board_uart_poll(); }

static _Noreturn void system_reset(void) {
    while ((*(volatile uint8_t *)(uintptr_t)(BOARD_UART_BASE + 5u) & 0x40u) == 0u) {
    } /* let the reply leave the UART */
#if defined(BOARD_EXIT_SIFIVE_TEST)
    *(volatile uint32_t *)(uintptr_t)BOARD_EXIT_BASE = 0x7777u;
#endif
    for (;;) {
    }
}

static void reboot(void) { system_reset(); }

static _Noreturn void enter_bootloader(void) {
    *(volatile uint32_t *)(uintptr_t)CIM_BL_BOOT_REQ_ADDR = CIM_BL_BOOT_REQ_MAGIC;
    system_reset();
}

#ifdef HAVE_HAL
static uint64_t hal_ops(void) {
    cim_hal_counters_t c;
    cim_hal_counters(&c);
    return c.ops;
}
static uint64_t hal_wait_insns(void) {
    cim_hal_counters_t c;
    cim_hal_counters(&c);
    return c.wait_instret;
}
#define BACKEND cim_hal_backend_name()
#define HAL_OPS hal_ops
#define HAL_WAIT hal_wait_insns
#else
#define BACKEND CIM_BACKEND_NAME
#define HAL_OPS 0
#define HAL_WAIT 0
#endif

static uint32_t rd32(const volatile uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* A model slot the app may run: header intact, committed, not killed. Returns its size or 0. */
static uint32_t model_slot(uint32_t off, uint32_t cap, uint32_t *seq) {
    const volatile uint8_t *h = (const volatile uint8_t *)(uintptr_t)(CIM_BL_FLASH_BASE + off);
    uint8_t fixed[CIM_BL_FIXED_SIZE];
    for (uint32_t i = 0; i < CIM_BL_FIXED_SIZE; i++) fixed[i] = h[i];
    if (cim_get_u32(fixed) != CIM_BL_SLOT_MAGIC || fixed[CIM_BL_HDR_VERSION] != CIM_BL_SLOT_LAYOUT_VERSION ||
        fixed[CIM_BL_HDR_KIND] != CIM_BL_KIND_MODEL || cim_proto_crc32(fixed, CIM_BL_FIXED_SIZE) != rd32(h + CIM_BL_HDR_CRC) ||
        rd32(h + CIM_BL_HDR_COMMIT) != CIM_BL_COMMIT_MAGIC || rd32(h + CIM_BL_HDR_INVALID) != 0xFFFFFFFFu)
        return 0;
    uint32_t size = cim_get_u32(fixed + CIM_BL_HDR_SIZE);
    *seq = cim_get_u32(fixed + CIM_BL_HDR_SEQ);
    return size <= cap - CIM_BL_HEADER_SIZE ? size : 0;
}

/* QEMU's 16550 stops taking bytes from its chardev while its receive register is full and only
 * resumes on a read of RBR; the FIFO reset in board_uart_init() empties it without that read, so a
 * byte that arrived during reset would block the link for good. One dummy read wakes it up. */
static void uart_wake(void) {
#if defined(BOARD_UART_NS16550A)
    /* FIFO receive trigger at 14 bytes, as in the bootloader: QEMU hands the FIFO at most "trigger
     * level" bytes per event loop turn, so a trigger of 1 byte caps the link at a few KiB/s. */
    *(volatile uint8_t *)(uintptr_t)(BOARD_UART_BASE + 2u) = 0xC1u;
    (void)*(volatile uint8_t *)(uintptr_t)BOARD_UART_BASE;
#endif
}

int main(void) {
    board_init();
    uart_wake();
    uint32_t seq_a = 0, seq_b = 0;
    uint32_t size_a = model_slot(CIM_BL_MODEL_A_OFFSET, CIM_BL_MODEL_A_SIZE, &seq_a);
    uint32_t size_b = model_slot(CIM_BL_MODEL_B_OFFSET, CIM_BL_MODEL_B_SIZE, &seq_b);
    const uint8_t *model = 0;
    uint32_t model_size = 0;
    if (size_a && (!size_b || seq_a >= seq_b)) {
        model = (const uint8_t *)(uintptr_t)(CIM_BL_FLASH_BASE + CIM_BL_MODEL_A_OFFSET + CIM_BL_HEADER_SIZE);
        model_size = size_a;
    } else if (size_b) {
        model = (const uint8_t *)(uintptr_t)(CIM_BL_FLASH_BASE + CIM_BL_MODEL_B_OFFSET + CIM_BL_HEADER_SIZE);
        model_size = size_b;
    }
#if defined(CIM_BACKEND_MAILBOX)
    /* The mailbox coprocessor reads the weight image from RAM (it shares the guest RAM, not the
     * flash), so it runs a copy of the slot; a model larger than the buffer is not loaded. */
    if (model_size > sizeof image_buf) model_size = 0;
    for (uint32_t i = 0; i < model_size; i++) image_buf[i] = model[i];
    if (model_size) model = image_buf;
#endif
    cim_console_cfg_t cfg = {
        .putc = uart_tx,
        .cycles = cycles,
        .instret = instret,
        .marker = marker,
        .cim_ops = HAL_OPS,
        .wait_insns = HAL_WAIT,
        .reset = reboot,
        .poll = uart_poll,
        .board = BOARD_NAME,
        .fw_version = CIM_FW_VERSION,
        .backend = BACKEND,
        .arena_size = CIM_ARENA_SIZE,
        .image_buf = image_buf,
        .image_cap = sizeof image_buf,
        .rx_buf = rx_buf,
        .rx_cap = sizeof rx_buf,
        .embedded_image = model,
        .embedded_size = model_size,
    };
    (void)cim_console_init(&cfg);
    cim_frame_rx_t bl_rx;
    cim_frame_rx_init(&bl_rx, bl_rx_buf, sizeof bl_rx_buf);
    for (;;) {
        uint8_t c = (uint8_t)board_uart_getc();
        cim_console_feed(c);
        cim_frame_t f;
        if (cim_frame_rx_feed(&bl_rx, c, &f) == CIM_RX_FRAME && !(f.flags & CIM_FLAG_RESPONSE) &&
            f.opcode >= 0x40u && f.opcode <= 0x5Fu)
            enter_bootloader();
    }
}

#endif /* CIM_SLOT_APP */
