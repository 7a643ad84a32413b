/* The cimsdk application: bring up the board, then serve the console on the UART.
 *
 * The weight image arrives over the serial link (LOAD_IMAGE/COMMIT_IMAGE) into a RAM
 * buffer, or is linked in with --embed-image (CIM_EMBEDDED_IMAGE). Build-time settings,
 * normally passed by `cimsdk firmware build` as -D flags:
 *   CIM_BACKEND_MAILBOX / CIM_BACKEND_SOFT  the CiM HAL backend (neither: host tests, no HAL)
 *   CIM_FW_VERSION                          string reported by INFO
 *   CIM_IMAGE_BUF_SIZE                      bytes of the image RAM buffer
 *   CIM_RX_BUF_SIZE                         frame buffer (default CIM_MAX_FRAME)
 * The board name comes from board.h (BOARD_NAME), the arena size from cim_runtime.h. */
#include <stdint.h>

#include "board.h"
#include "cim_console.h"
#include "cim_protocol.h"
#include "cim_runtime.h"

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

/* FIFO receive trigger at 14 bytes: QEMU hands the 16550 at most "trigger level" bytes per event
 * loop turn, so the default trigger of 1 byte caps the link at a few KiB/s (real UARTs ignore it
 * for polled reception). */
static void uart_fast_rx(void) {
#if defined(BOARD_UART_NS16550A)
    *(volatile uint8_t *)(uintptr_t)(BOARD_UART_BASE + 2u) = 0xC1u;
#endif
}

int main(void) {
    board_init();
    uart_fast_rx();
    cim_console_cfg_t cfg = {
        .putc = uart_tx,
        .cycles = cycles,
        .instret = instret,
        .marker = marker,
        .cim_ops = HAL_OPS,
        .wait_insns = HAL_WAIT,
        .reset = 0,
        .poll = uart_poll,
        .board = BOARD_NAME,
        .fw_version = CIM_FW_VERSION,
        .backend = BACKEND,
        .arena_size = CIM_ARENA_SIZE,
        .image_buf = image_buf,
        .image_cap = sizeof image_buf,
        .rx_buf = rx_buf,
        .rx_cap = sizeof rx_buf,
#ifdef CIM_EMBEDDED_IMAGE
        .embedded_image = cim_embedded_image,
        .embedded_size = cim_embedded_image_size,
#endif
    };
    (void)cim_console_init(&cfg); /* a rejected embedded image shows as "no image" in INFO */
    for (;;) cim_console_feed((uint8_t)board_uart_getc());
}
