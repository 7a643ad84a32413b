/* Host stand-in for firmware/include/board.h: the UART is a pseudo-terminal, so pyserial
 * talks to the console exactly as to a USB serial port. Test-only. */
#ifndef BOARD_H
#define BOARD_H
#include <stdint.h>
#define BOARD_NAME "host-pty"
void board_init(void);
void board_uart_putc(uint8_t c);
int board_uart_getc(void);
int board_uart_poll(void); /* a byte, or -1 when none is waiting */
uint64_t board_cycles(void);
uint64_t board_instret(void);
void board_marker(int on);
#endif
