/* GD32VF103 USART (STM32F1-compatible registers): USART0 on PA9 (TX) / PA10 (RX). */
#include "board.h"

#if defined(BOARD_UART_GD32_USART)

#define USART(off) (*(volatile uint32_t *)(uintptr_t)(BOARD_UART_BASE + (off)))
#define STAT 0x00u
#define DATA 0x04u
#define BAUD 0x08u
#define CTL0 0x0Cu
#define STAT_RBNE (1u << 5)
#define STAT_TC (1u << 6)
#define STAT_TBE (1u << 7)

void board_uart_init(void) {
    volatile uint32_t *rcu_apb2en = (volatile uint32_t *)0x40021018u;
    *rcu_apb2en |= (1u << 14) | (1u << 2) | (1u << 0); /* USART0, GPIOA, AFIO clocks */
    volatile uint32_t *gpioa_ctl1 = (volatile uint32_t *)0x40010804u;
    /* PA9: alternate push-pull 50 MHz (0xB); PA10: floating input (0x4). */
    *gpioa_ctl1 = (*gpioa_ctl1 & ~0xFF0u) | (0xBu << 4) | (0x4u << 8);
    USART(BAUD) = (BOARD_CLOCK_HZ + BOARD_UART_BAUD / 2u) / BOARD_UART_BAUD;
    USART(CTL0) = (1u << 13) | (1u << 3) | (1u << 2); /* UEN, TEN, REN */
}

void board_uart_putc(uint8_t c) {
    while ((USART(STAT) & STAT_TBE) == 0u) {
    }
    USART(DATA) = c;
}

int board_uart_poll(void) {
    if ((USART(STAT) & STAT_RBNE) == 0u) return -1;
    return (int)(USART(DATA) & 0xFFu);
}

void board_uart_flush(void) {
    while ((USART(STAT) & STAT_TC) == 0u) {
    }
}

void board_uart_set_baud(uint32_t baud) {
    board_uart_flush();
    USART(BAUD) = (BOARD_CLOCK_HZ + baud / 2u) / baud;
}

#endif
