/* hello: the board smoke test. Prints the board's identity and counters, checks the CiM mailbox
 * with the MEMCPY diagnostic (mailbox backend), then serves a tiny line-less command set:
 *   'c' print counters   'm' repeat the mailbox diagnostic   'k' marker on/off   'q' exit   other: echo */
#include <stdint.h>

#include "board.h"
#include "cim_hal.h"

/* Initialised, writable: lives in .data, so start.S's copy from flash is exercised (XIP layouts). */
static char banner[] = "cimsdk hello: board=";

static void put_str(const char *s) {
    while (*s) board_uart_putc((uint8_t)*s++);
}

static void put_u64(uint64_t v) {
    char buf[21];
    int i = 20;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    put_str(&buf[i]);
}

#if defined(CIM_BACKEND_MAILBOX)
static void put_hex32(uint32_t v) {
    static const char digits[] = "0123456789abcdef";
    put_str("0x");
    for (int i = 28; i >= 0; i -= 4) board_uart_putc((uint8_t)digits[(v >> i) & 0xFu]);
}
#endif

static void put_int(int v) {
    if (v < 0) {
        board_uart_putc('-');
        put_u64((uint64_t)(-(int64_t)v));
    } else {
        put_u64((uint64_t)v);
    }
}

static void print_counters(void) {
    cim_hal_counters_t c;
    cim_hal_counters(&c);
    put_str("counters: cycles=");
    put_u64(board_cycles());
    put_str(" instret=");
    put_u64(board_instret());
    put_str(" ticks=");
    put_u64(board_ticks());
    put_str(" cim_commands=");
    put_u64(c.commands);
    put_str(" wait_instret=");
    put_u64(c.wait_instret);
    board_puts("");
}

/* A fixed piece of CPU work, timed with minstret: under -icount shift=0 its count is exact and repeats
 * from boot to boot (I/O waits, e.g. on a busy UART, are host-timed and kept out of it). */
static uint32_t work_buf[256];

static void timed_work(void) {
    uint64_t i0 = board_instret();
    uint32_t acc = 0x12345678u;
    for (uint32_t i = 0; i < 256u; i++) {
        work_buf[i] = acc;
        acc = acc * 1664525u + 1013904223u + (work_buf[(i * 7u) & 255u] >> 3);
    }
    uint64_t i1 = board_instret();
    put_str("work: instret=");
    put_u64(i1 - i0);
    put_str(" result=");
    put_u64(acc);
    board_puts("");
}

#if defined(CIM_BACKEND_MAILBOX)
static uint32_t crc32(const uint8_t *p, uint32_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint8_t diag_src[1024];
static uint8_t diag_dst[1024];

static void mailbox_diagnostic(uint32_t round) {
    for (uint32_t i = 0; i < sizeof diag_src; i++) diag_src[i] = (uint8_t)(i * 7u + round * 13u + (i >> 8));
    for (uint32_t i = 0; i < sizeof diag_dst; i++) diag_dst[i] = 0;
    uint32_t dev_crc = 0;
    uint64_t w0 = 0;
    cim_hal_counters_t c;
    cim_hal_counters(&c);
    w0 = c.wait_instret;
    int rc = cim_hal_mailbox_memcpy(diag_src, diag_dst, sizeof diag_src, &dev_crc);
    cim_hal_counters(&c);
    uint32_t want = crc32(diag_src, sizeof diag_src);
    uint32_t got = crc32(diag_dst, sizeof diag_dst);
    put_str("mailbox memcpy: ");
    if (rc != CIM_HAL_OK) {
        put_str("error rc=");
        put_int(rc);
        board_puts("");
        return;
    }
    put_str(want == got && dev_crc == want ? "ok" : "MISMATCH");
    put_str(" bytes=");
    put_u64(sizeof diag_src);
    put_str(" crc=");
    put_hex32(want);
    put_str(" device_crc=");
    put_hex32(dev_crc);
    put_str(" wait_instret=");
    put_u64(c.wait_instret - w0);
    board_puts("");
}
#endif

int main(void) {
    board_init();
    put_str(banner);
    put_str(board_name());
    put_str(" clock_hz=");
    put_u64(board_clock_hz());
    put_str(" backend=");
    put_str(cim_hal_backend_name());
    board_puts("");
    print_counters();
    timed_work();
#if defined(CIM_BACKEND_MAILBOX)
    uint32_t round = 0;
    if (cim_hal_mailbox_present()) {
        mailbox_diagnostic(round++);
    } else {
        board_puts("mailbox: no coprocessor attached");
    }
#endif
    board_puts("ready");
    int marker = 0;
    for (;;) {
        int ch = board_uart_getc();
        switch (ch) {
        case 'c':
            print_counters();
            break;
#if defined(CIM_BACKEND_MAILBOX)
        case 'm':
            mailbox_diagnostic(round++);
            break;
#endif
        case 'k':
            marker = !marker;
            board_marker(marker);
            put_str("marker=");
            put_int(marker);
            board_puts("");
            break;
        case 'q':
            board_puts("bye");
            board_exit(0);
        default:
            board_uart_putc((uint8_t)ch);
            break;
        }
    }
}
