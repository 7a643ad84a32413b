/* The bootloader on the board: boot decision, a short window for a host to take over, then either
 * jump to the application in the primary slot or serve the serial protocol. Nothing but frames is
 * ever written to the UART, so a host never has to skip a banner.
 * Build-time options (cimsdk.flash.build.build_bootloader passes them):
 *   CIM_BL_PUBKEY        ed25519 public key as 32 comma-separated bytes: check signatures
 *   CIM_BL_SIGNED_ONLY   with a key: refuse unsigned images
 *   CIM_BL_TARGETS       CiM targets the application accepts, e.g. "sram-dcim,nor-acim"
 *   CIM_BL_WINDOW_MS     how long a valid frame can still stop the boot (default 10 ms)
 *   CIM_BL_WINDOW_POLLS  ... or at most this many UART polls (default 20000): under QEMU -icount every
 *                        MMIO read is slow in real time, so a tick-only window could last minutes */
#if defined(CIM_BOOTLOADER)

#include <stdint.h>

#include "board.h"
#include "cim_bl.h"
#include "cim_protocol.h"

#ifndef CIM_BL_WINDOW_MS
#define CIM_BL_WINDOW_MS 10u
#endif
#ifndef CIM_BL_WINDOW_POLLS
#define CIM_BL_WINDOW_POLLS 20000u
#endif
#ifndef CIM_BL_TARGETS
#define CIM_BL_TARGETS ""
#endif

int cim_bl_flash_erase(uint32_t off);
int cim_bl_flash_program(uint32_t off, const uint8_t *p, uint32_t n);

#ifdef CIM_BL_PUBKEY
static const uint8_t pubkey[32] = {CIM_BL_PUBKEY};
#define PUBKEY pubkey
#else
#define PUBKEY 0
#endif
#ifdef CIM_BL_SIGNED_ONLY
#define SIGNED_ONLY 1
#else
#define SIGNED_ONLY 0
#endif

static _Alignas(4) uint8_t rx_buf[CIM_MAX_FRAME];

static _Noreturn void start_app(void) {
    void (*entry)(void) = (void (*)(void))(uintptr_t)CIM_BL_APP_ENTRY;
    __asm__ volatile(".option push\n.option arch, +zifencei\nfence.i\n.option pop" ::: "memory");
    entry();
    for (;;) {
    }
}

int main(void) {
    board_init();
    cim_bl_cfg_t cfg = {
        .flash = (const volatile uint8_t *)(uintptr_t)CIM_BL_FLASH_BASE,
        .erase = cim_bl_flash_erase,
        .program = cim_bl_flash_program,
        .putc = board_uart_putc,
        .board = BOARD_NAME,
        .targets = CIM_BL_TARGETS,
        .pubkey = PUBKEY,
        .signed_only = SIGNED_ONLY,
        .rx_buf = rx_buf,
        .rx_cap = sizeof rx_buf,
    };
    cim_bl_init(&cfg);
    volatile uint32_t *req = (volatile uint32_t *)(uintptr_t)CIM_BL_BOOT_REQ_ADDR;
    int stay = *req == CIM_BL_BOOT_REQ_MAGIC;
    *req = 0;
    int bootable = cim_bl_boot_check();
    if (bootable && !stay) {
        /* Only a bootloader command keeps the bootloader; a console command (a host that wants the
         * application) is answered ERR_BOOTING and ends the window at once. */
        uint64_t end = board_ticks() + (uint64_t)board_tick_hz() * CIM_BL_WINDOW_MS / 1000u;
        cim_bl_set_window(1);
        for (uint32_t polls = 0; polls < CIM_BL_WINDOW_POLLS && board_ticks() < end && !cim_bl_synced(); polls++) {
            int c = board_uart_poll();
            if (c >= 0 && cim_bl_feed((uint8_t)c) == CIM_BL_ACT_START) break;
        }
        cim_bl_set_window(0);
        if (!cim_bl_synced()) {
            board_uart_flush(); /* the application re-initialises the UART */
            start_app();
        }
    }
    for (;;) {
        int act = cim_bl_feed((uint8_t)board_uart_getc());
        if (act == CIM_BL_ACT_RESET) board_reset();
        if (act == CIM_BL_ACT_BOOT) {
            board_uart_flush();
            if (cim_bl_boot_check()) start_app();
        }
        if (act == CIM_BL_ACT_BAUD) board_uart_set_baud(cim_bl_new_baud());
    }
}

#endif /* CIM_BOOTLOADER */
