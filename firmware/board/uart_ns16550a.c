/* NS16550A UART (QEMU virt at 0x10000000, byte-wide registers). QEMU ignores the divisor; it is set
 * anyway so the driver is right for real 16550s clocked at BOARD_UART_CLOCK_HZ. */
#include "board.h"

#if defined(BOARD_UART_NS16550A)

#ifndef BOARD_UART_CLOCK_HZ
#define BOARD_UART_CLOCK_HZ 3686400u
#endif

#define REG(off) (*(volatile uint8_t *)(uintptr_t)(BOARD_UART_BASE + (off)))
#define RBR 0x00u /* receive buffer (read) / THR transmit (write) */
#define IER 0x01u
#define FCR 0x02u
#define LCR 0x03u
#define LSR 0x05u
#define LSR_DR 0x01u
#define LSR_THRE 0x20u
#define LSR_TEMT 0x40u

static void set_divisor(uint32_t baud) {
    uint32_t div = BOARD_UART_CLOCK_HZ / (16u * baud);
    if (div == 0u) div = 1u;
    REG(LCR) = 0x80u; /* DLAB */
    REG(0x00u) = (uint8_t)(div & 0xFFu);
    REG(0x01u) = (uint8_t)(div >> 8);
    REG(LCR) = 0x03u; /* 8N1 */
}

void board_uart_init(void) {
    REG(IER) = 0x00u;
    set_divisor(BOARD_UART_BAUD);
    /* FIFOs on and cleared, receive trigger at 14 bytes: QEMU hands the 16550 at most "trigger level"
     * bytes per event loop turn, so a trigger of 1 byte caps the link at a few KiB/s (real UARTs ignore
     * it for polled reception). */
    REG(FCR) = 0xC7u;
    /* Bytes that reached QEMU before the FIFO reset leave the receiver stalled until RBR is read:
     * read it once, then drain whatever is still pending. */
    (void)REG(RBR);
    while ((REG(LSR) & LSR_DR) != 0u) (void)REG(RBR);
}

void board_uart_flush(void) {
    while ((REG(LSR) & LSR_TEMT) == 0u) {
    }
}

void board_uart_set_baud(uint32_t baud) {
    board_uart_flush(); /* the ACK leaves at the old rate */
    set_divisor(baud);
}

void board_uart_putc(uint8_t c) {
    while ((REG(LSR) & LSR_THRE) == 0u) {
    }
    REG(RBR) = c;
}

int board_uart_poll(void) {
    if ((REG(LSR) & LSR_DR) == 0u) return -1;
    return REG(RBR);
}

#endif
