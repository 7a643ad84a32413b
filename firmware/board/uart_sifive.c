/* SiFive UART (FE310): txdata bit 31 = FIFO full, rxdata bit 31 = empty; pins via the GPIO IOF. */
#include "board.h"

#if defined(BOARD_UART_SIFIVE_UART)

#define UART(off) (*(volatile uint32_t *)(uintptr_t)(BOARD_UART_BASE + (off)))
#define TXDATA 0x00u
#define RXDATA 0x04u
#define TXCTRL 0x08u
#define RXCTRL 0x0Cu
#define IP 0x14u
#define DIV 0x18u
#define IP_TXWM 1u

void board_uart_init(void) {
    volatile uint32_t *iof_en = (volatile uint32_t *)0x10012038u;
    volatile uint32_t *iof_sel = (volatile uint32_t *)0x1001203Cu;
    *iof_sel &= ~((1u << 16) | (1u << 17)); /* IOF0 = UART0 on GPIO16/17 */
    *iof_en |= (1u << 16) | (1u << 17);
    UART(DIV) = BOARD_CLOCK_HZ / BOARD_UART_BAUD - 1u;
    UART(TXCTRL) = 1u | (1u << 16); /* txen, one stop bit, txwm while the FIFO holds < 1 byte */
    UART(RXCTRL) = 1u; /* rxen */
}

void board_uart_putc(uint8_t c) {
    while ((int32_t)UART(TXDATA) < 0) {
    }
    UART(TXDATA) = c;
}

int board_uart_poll(void) {
    int32_t v = (int32_t)UART(RXDATA);
    return v < 0 ? -1 : (v & 0xFF);
}

/* The FE310 UART tells when its FIFO is empty (txwm), not when the last byte has left the shift
 * register: wait for the FIFO, then one more character time at the configured rate. */
void board_uart_flush(void) {
    while ((UART(IP) & IP_TXWM) == 0u) {
    }
    for (volatile uint32_t i = 0; i < 10u * (UART(DIV) + 1u) / 4u; i++) {
    }
}

void board_uart_set_baud(uint32_t baud) {
    board_uart_flush();
    UART(DIV) = BOARD_CLOCK_HZ / baud - 1u;
}

#endif
