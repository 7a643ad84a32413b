/* Host board for the console tests: UART = pty master (the slave path is printed on stdout
 * as "PTY /dev/pts/N"), counters from CLOCK_MONOTONIC, marker edges appended to the file
 * named by $CIM_MARKER_LOG (one "1"/"0" per line) so a test can count them. */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "board.h"

static int master = -1;
static FILE *marker_log;

void board_init(void) {
    master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) || unlockpt(master)) {
        perror("pty");
        exit(1);
    }
    const char *name = ptsname(master);
    /* Hold the slave open and raw, so bytes pass untouched and reads never see EIO/hangup
     * between host sessions. */
    int slave = open(name, O_RDWR | O_NOCTTY);
    struct termios t;
    if (slave < 0 || tcgetattr(slave, &t)) {
        perror("pty slave");
        exit(1);
    }
    cfmakeraw(&t);
    tcsetattr(slave, TCSANOW, &t);
    const char *log = getenv("CIM_MARKER_LOG");
    if (log) marker_log = fopen(log, "a");
    printf("PTY %s\n", name);
    fflush(stdout);
}

void board_uart_putc(uint8_t c) {
    while (write(master, &c, 1) != 1) {
        if (errno != EINTR && errno != EAGAIN) exit(3);
    }
}

int board_uart_getc(void) {
    for (;;) {
        uint8_t c;
        ssize_t n = read(master, &c, 1);
        if (n == 1) return c;
        if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EIO) exit(4);
        if (n <= 0) usleep(1000);
    }
}

int board_uart_poll(void) {
    struct pollfd p = {.fd = master, .events = POLLIN};
    uint8_t c;
    if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN) && read(master, &c, 1) == 1) return c;
    return -1;
}

uint64_t board_cycles(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t board_instret(void) { return board_cycles() / 2u + 1u; }

void board_marker(int on) {
    if (marker_log) {
        fprintf(marker_log, "%d\n", on ? 1 : 0);
        fflush(marker_log);
    }
}
