/* The cimsdk application: bring up the board, then serve the console on the UART.
 *
 * The weight image arrives over the serial link (LOAD_IMAGE/COMMIT_IMAGE) into a RAM
 * buffer, or is linked in with --embed-image (CIM_EMBEDDED_IMAGE), or, built as a slot application
 * (CIM_SLOT_APP), is the active model slot in flash. Build-time settings, normally passed by
 * `cimsdk firmware build` or `cimsdk.flash.build.build_slot_app` as -D flags:
 *   CIM_BACKEND_MAILBOX / CIM_BACKEND_SOFT  the CiM HAL backend (neither: host tests, no HAL)
 *   CIM_FW_VERSION                          string reported by INFO
 *   CIM_IMAGE_BUF_SIZE                      bytes of the image RAM buffer
 *   CIM_RX_BUF_SIZE                         frame buffer (default CIM_MAX_FRAME)
 *   CIM_SLOT_APP                            linked to execute in place from the primary slot
 *                                           (docs/bootloader.md): runs the committed model slot with the
 *                                           highest sequence number, exactly the one the bootloader reports
 *                                           ACTIVE (the mailbox backend runs a RAM copy: its coprocessor
 *                                           only sees RAM); a frame with a bootloader opcode (0x40-0x5F)
 *                                           reboots into the bootloader, so `cimsdk flash` can take over a
 *                                           running board; the console's RESET reboots normally.
 * The board name comes from board.h (BOARD_NAME), the arena size from cim_runtime.h. */
#include <stdint.h>

#include "board.h"
#include "cim_console.h"
#include "cim_protocol.h"
#include "cim_runtime.h"
#if defined(CIM_SLOT_APP)
#include "cim_bl_layout.h"
#include "cim_frame.h"
#endif

#if defined(CIM_BACKEND_MAILBOX) || defined(CIM_BACKEND_SOFT)
#include "cim_hal.h"
#define HAVE_HAL 1
#endif

#ifndef BOARD_NAME
#define BOARD_NAME "unknown"
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
#ifndef CIM_RX_BUF_SIZE
#define CIM_RX_BUF_SIZE CIM_MAX_FRAME
#endif
#ifndef CIM_ARENA_SIZE
#define CIM_ARENA_SIZE 0u
#endif

#if defined(CIM_EMBEDDED_IMAGE) && defined(CIM_SLOT_APP)
#error "a slot application runs the model slot; it takes no embedded image"
#endif
#ifdef CIM_EMBEDDED_IMAGE
extern const uint8_t cim_embedded_image[];
extern const uint32_t cim_embedded_image_size;
#define IMAGE_BUF_SIZE 16u /* the image is in flash; keep a token RAM buffer */
#else
#define IMAGE_BUF_SIZE CIM_IMAGE_BUF_SIZE
#endif

static _Alignas(16) uint8_t image_buf[IMAGE_BUF_SIZE];
static _Alignas(4) uint8_t rx_buf[CIM_RX_BUF_SIZE];

static void uart_tx(uint8_t byte) { board_uart_putc(byte); }
static uint64_t cycles(void) { return board_cycles(); }
static uint64_t instret(void) { return board_instret(); }
static void marker(int on) { board_marker(on); }
static int uart_poll(void) { return board_uart_poll(); }

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

#if defined(CIM_SLOT_APP)
static _Alignas(4) uint8_t bl_rx_buf[64]; /* a second parser: only looks for bootloader opcodes */

static void reboot(void) { board_reset(); }

static _Noreturn void enter_bootloader(void) {
    *(volatile uint32_t *)(uintptr_t)CIM_BL_BOOT_REQ_ADDR = CIM_BL_BOOT_REQ_MAGIC;
    board_reset();
}

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

/* The active model: the committed slot with the highest sequence number (A on a tie); sets *size. */
static const uint8_t *active_model(uint32_t *size) {
    uint32_t seq_a = 0, seq_b = 0;
    uint32_t size_a = model_slot(CIM_BL_MODEL_A_OFFSET, CIM_BL_MODEL_A_SIZE, &seq_a);
    uint32_t size_b = model_slot(CIM_BL_MODEL_B_OFFSET, CIM_BL_MODEL_B_SIZE, &seq_b);
    const uint8_t *model = 0;
    *size = 0;
    if (size_a && (!size_b || seq_a >= seq_b)) {
        model = (const uint8_t *)(uintptr_t)(CIM_BL_FLASH_BASE + CIM_BL_MODEL_A_OFFSET + CIM_BL_HEADER_SIZE);
        *size = size_a;
    } else if (size_b) {
        model = (const uint8_t *)(uintptr_t)(CIM_BL_FLASH_BASE + CIM_BL_MODEL_B_OFFSET + CIM_BL_HEADER_SIZE);
        *size = size_b;
    }
#if defined(CIM_BACKEND_MAILBOX)
    /* The mailbox coprocessor reads the weight image from RAM (it shares the guest RAM, not the
     * flash), so it runs a copy of the slot; a model larger than the buffer is not loaded. */
    if (*size > sizeof image_buf) *size = 0;
    for (uint32_t i = 0; i < *size; i++) image_buf[i] = model[i];
    if (*size) model = image_buf;
#endif
    return *size ? model : 0;
}
#define RESET reboot
#else
#define RESET 0
#endif

int main(void) {
    board_init();
#if defined(CIM_SLOT_APP)
    uint32_t model_size;
    const uint8_t *model = active_model(&model_size);
#endif
    cim_console_cfg_t cfg = {
        .putc = uart_tx,
        .cycles = cycles,
        .instret = instret,
        .marker = marker,
        .cim_ops = HAL_OPS,
        .wait_insns = HAL_WAIT,
        .reset = RESET,
        .poll = uart_poll,
        .board = BOARD_NAME,
        .fw_version = CIM_FW_VERSION,
        .backend = BACKEND,
        .arena_size = CIM_ARENA_SIZE,
        .image_buf = image_buf,
        .image_cap = sizeof image_buf,
        .rx_buf = rx_buf,
        .rx_cap = sizeof rx_buf,
#if defined(CIM_EMBEDDED_IMAGE)
        .embedded_image = cim_embedded_image,
        .embedded_size = cim_embedded_image_size,
#elif defined(CIM_SLOT_APP)
        .embedded_image = model,
        .embedded_size = model_size,
#endif
    };
    (void)cim_console_init(&cfg); /* a rejected embedded image shows as "no image" in INFO */
#if defined(CIM_SLOT_APP)
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
#else
    for (;;) cim_console_feed((uint8_t)board_uart_getc());
#endif
}
