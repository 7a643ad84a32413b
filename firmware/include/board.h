/* Board support API: the only board-specific surface the runtime, console and apps use.
 *
 * Implemented in firmware/board/ for every board in boards/; the board's constants (UART base,
 * clock, marker pin, mailbox window) come from the generated board_config.h, written by
 * `cimsdk firmware build` from boards/<name>/board.toml. */
#ifndef CIMSDK_BOARD_H
#define CIMSDK_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "board_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Clocks, UART, marker pin. Call once before anything else. */
void board_init(void);
void board_uart_init(void); /* called by board_init; one driver per UART kind */

/* UART: blocking transmit, blocking receive, and a poll that returns -1 when no byte waits. */
void board_uart_putc(uint8_t c);
int board_uart_getc(void);
int board_uart_poll(void);
void board_uart_write(const void *data, size_t n);
void board_puts(const char *s); /* string + "\r\n" */
/* Wait until every byte written has left the transmitter: before a reset, a jump to another program
 * or a baud change, so a reply is not cut off. */
void board_uart_flush(void);
/* Change the line rate (the bootloader's BAUD command); a UART without a divisor (QEMU's) ignores it. */
void board_uart_set_baud(uint32_t baud);

/* Free-running counters: cycles and retired instructions (mcycle/minstret on every board here;
 * under QEMU they count only with -icount, where one instruction is one cycle). */
uint64_t board_cycles(void);
uint64_t board_instret(void);

/* Wall-clock timer (mtime): ticks and their rate. */
uint64_t board_ticks(void);
uint32_t board_tick_hz(void);

/* Inference marker for power profiling: a GPIO on real boards, the mailbox marker word on QEMU
 * (the host reads it from shared RAM). on=1 at inference start, on=0 at its end. */
void board_marker(int on);

/* Stop: QEMU powers off (exit status visible to the host); a real board parks in a wfi loop. */
_Noreturn void board_exit(int code);
/* System reset after the UART has drained: QEMU's reset device where the board has one; a board without
 * one parks (its watchdog or the user resets it). */
_Noreturn void board_reset(void);

static inline const char *board_name(void) { return BOARD_NAME; }
static inline uint32_t board_clock_hz(void) { return BOARD_CLOCK_HZ; }

#ifdef __cplusplus
}
#endif

#endif /* CIMSDK_BOARD_H */
