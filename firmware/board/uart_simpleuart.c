/* PicoSoC's simpleuart (the iCEBreaker system, rtl/soc/icebreaker_cim.v): a clock divider register at
 * BOARD_UART_BASE, the data register at +4. A write waits in hardware until the transmitter is free;
 * a read returns the received byte once, or all ones when none waits (one byte of buffering). */
#include "board.h"

#if defined(BOARD_UART_SIMPLEUART)

#define UART(off) (*(volatile uint32_t *)(uintptr_t)(BOARD_UART_BASE + (off)))
#define DIV 0x00u
#define DATA 0x04u

void board_uart_init(void) {
    UART(DIV) = (BOARD_CLOCK_HZ + BOARD_UART_BAUD / 2u) / BOARD_UART_BAUD; /* clocks per bit */
    while (UART(DATA) != 0xFFFFFFFFu) {
        /* drop what arrived before the divider was set */
    }
}

void board_uart_putc(uint8_t c) { UART(DATA) = c; }

int board_uart_poll(void) {
    uint32_t v = UART(DATA);
    return v == 0xFFFFFFFFu ? -1 : (int)(v & 0xFFu);
}

/* A write returns once the transmitter took the byte; it then takes ten bit times to leave. */
void board_uart_flush(void) {
    const uint64_t end = board_cycles() + 10u * (uint64_t)UART(DIV);
    while (board_cycles() < end) {
    }
}

void board_uart_set_baud(uint32_t baud) {
    board_uart_flush();
    UART(DIV) = (BOARD_CLOCK_HZ + baud / 2u) / baud;
}

#endif
