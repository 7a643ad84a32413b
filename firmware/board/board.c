/* Board support common to every board: counters, timer, marker, exit, trap report.
 * The UART drivers live in uart_*.c, one per UART kind, selected by board_config.h. */
#include "board.h"

#include "cim_mailbox.h"

/* CSR reads: GCC 12 splits Zicsr out of rv32imac, so the instruction is named for the assembler. */
#define BOARD_CSR_READ(name)                                                              \
    ({                                                                                    \
        uint32_t v_;                                                                      \
        __asm__ volatile(".option push\n.option arch, +zicsr\ncsrr %0, " #name "\n.option pop" \
                         : "=r"(v_));                                                     \
        v_;                                                                               \
    })

/* Machine-mode counters, or the unprivileged ones on cores that have only those (PicoRV32). */
#if defined(BOARD_COUNTERS_USER)
#define BOARD_CYCLE_CSR(h) BOARD_CSR_READ(cycle##h)
#define BOARD_INSTRET_CSR(h) BOARD_CSR_READ(instret##h)
#else
#define BOARD_CYCLE_CSR(h) BOARD_CSR_READ(mcycle##h)
#define BOARD_INSTRET_CSR(h) BOARD_CSR_READ(minstret##h)
#endif

uint64_t board_cycles(void) {
    uint32_t hi, lo, hi2;
    do {
        hi = BOARD_CYCLE_CSR(h);
        lo = BOARD_CYCLE_CSR();
        hi2 = BOARD_CYCLE_CSR(h);
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

uint64_t board_instret(void) {
    uint32_t hi, lo, hi2;
    do {
        hi = BOARD_INSTRET_CSR(h);
        lo = BOARD_INSTRET_CSR();
        hi2 = BOARD_INSTRET_CSR(h);
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

uint64_t board_ticks(void) {
    volatile uint32_t *mtime = (volatile uint32_t *)(uintptr_t)BOARD_MTIME_ADDR;
    uint32_t hi, lo;
    do {
        hi = mtime[1];
        lo = mtime[0];
    } while (hi != mtime[1]);
    return ((uint64_t)hi << 32) | lo;
}

uint32_t board_tick_hz(void) { return BOARD_TICK_HZ; }

#if defined(BOARD_MARKER_GPIO) && defined(BOARD_GPIO_GD32)
/* GD32VF103 GPIO: 4-bit mode fields in CTL0 (pins 0-7)/CTL1 (8-15), OCTL output register. */
static void marker_pin_init(void) {
    volatile uint32_t *rcu_apb2en = (volatile uint32_t *)0x40021018u;
    *rcu_apb2en |= 1u << (2 + ((BOARD_MARKER_GPIO_BASE - 0x40010800u) / 0x400u)); /* GPIOx clock */
    volatile uint32_t *ctl = (volatile uint32_t *)(uintptr_t)(BOARD_MARKER_GPIO_BASE + (BOARD_MARKER_PIN < 8 ? 0x00u : 0x04u));
    uint32_t shift = (BOARD_MARKER_PIN % 8u) * 4u;
    *ctl = (*ctl & ~(0xFu << shift)) | (0x3u << shift); /* push-pull output, 50 MHz */
}
static void marker_pin_write(int level) {
    volatile uint32_t *bop = (volatile uint32_t *)(uintptr_t)(BOARD_MARKER_GPIO_BASE + 0x10u);
    *bop = level ? (1u << BOARD_MARKER_PIN) : (1u << (BOARD_MARKER_PIN + 16u));
}
#elif defined(BOARD_MARKER_GPIO) && defined(BOARD_GPIO_SIFIVE)
/* SiFive GPIO: output_en at 0x08, output_val at 0x0C. */
static void marker_pin_init(void) {
    volatile uint32_t *out_en = (volatile uint32_t *)(uintptr_t)(BOARD_MARKER_GPIO_BASE + 0x08u);
    *out_en |= 1u << BOARD_MARKER_PIN;
}
static void marker_pin_write(int level) {
    volatile uint32_t *val = (volatile uint32_t *)(uintptr_t)(BOARD_MARKER_GPIO_BASE + 0x0Cu);
    if (level) *val |= 1u << BOARD_MARKER_PIN;
    else *val &= ~(1u << BOARD_MARKER_PIN);
}
#elif defined(BOARD_MARKER_GPIO) && defined(BOARD_GPIO_ESP32C3)
/* ESP32-C3 GPIO matrix: ENABLE_W1TS 0x24, OUT_W1TS 0x08, OUT_W1TC 0x0C; pin routed to simple output. */
static void marker_pin_init(void) {
    volatile uint32_t *func_out_sel = (volatile uint32_t *)(uintptr_t)(BOARD_MARKER_GPIO_BASE + 0x554u + 4u * BOARD_MARKER_PIN);
    *func_out_sel = 0x80u; /* SIG_GPIO_OUT_IDX: plain GPIO output */
    volatile uint32_t *enable_w1ts = (volatile uint32_t *)(uintptr_t)(BOARD_MARKER_GPIO_BASE + 0x24u);
    *enable_w1ts = 1u << BOARD_MARKER_PIN;
}
static void marker_pin_write(int level) {
    volatile uint32_t *reg = (volatile uint32_t *)(uintptr_t)(BOARD_MARKER_GPIO_BASE + (level ? 0x08u : 0x0Cu));
    *reg = 1u << BOARD_MARKER_PIN;
}
#endif

void board_init(void) {
    board_uart_init();
#if defined(BOARD_MARKER_GPIO)
    marker_pin_init();
    board_marker(0);
#endif
}

void board_marker(int on) {
#if defined(BOARD_MARKER_MAILBOX)
    /* The host sees the marker in shared RAM: the word, a transition count and the instret stamp. */
    uint64_t now = board_instret();
    volatile uint32_t *mb = (volatile uint32_t *)(uintptr_t)CIM_MAILBOX_BASE;
    mb[CIM_MB_REG_MARKER_INSTRET_LO / 4] = (uint32_t)now;
    mb[CIM_MB_REG_MARKER_INSTRET_HI / 4] = (uint32_t)(now >> 32);
    mb[CIM_MB_REG_MARKER / 4] = on ? 1u : 0u;
    __sync_synchronize();
    mb[CIM_MB_REG_MARKER_SEQ / 4] = mb[CIM_MB_REG_MARKER_SEQ / 4] + 1u;
#elif defined(BOARD_MARKER_GPIO)
#if BOARD_MARKER_ACTIVE_LOW
    marker_pin_write(!on);
#else
    marker_pin_write(on);
#endif
#else
    (void)on;
#endif
}

void board_uart_write(const void *data, size_t n) {
    const uint8_t *p = (const uint8_t *)data;
    while (n--) board_uart_putc(*p++);
}

void board_puts(const char *s) {
    while (*s) board_uart_putc((uint8_t)*s++);
    board_uart_putc('\r');
    board_uart_putc('\n');
}

int board_uart_getc(void) {
    int c;
    while ((c = board_uart_poll()) < 0) {
    }
    return c;
}

/* Stop for good: wfi where the core has it (PicoRV32 does not decode it). */
static _Noreturn void park(void) {
#if BOARD_TRAP_CSRS
    for (;;) __asm__ volatile("wfi");
#else
    for (;;) {
    }
#endif
}

_Noreturn void board_exit(int code) {
#if defined(BOARD_EXIT_SIFIVE_TEST)
    /* QEMU's sifive_test device: 0x5555 = pass (exit 0), (code << 16) | 0x3333 = fail (exit code). */
    volatile uint32_t *test = (volatile uint32_t *)(uintptr_t)BOARD_EXIT_BASE;
    *test = code == 0 ? 0x5555u : (((uint32_t)code & 0xFFFFu) << 16) | 0x3333u;
#else
    (void)code;
#endif
    park();
}

_Noreturn void board_reset(void) {
    board_uart_flush();
#if defined(BOARD_EXIT_SIFIVE_TEST)
    *(volatile uint32_t *)(uintptr_t)BOARD_EXIT_BASE = 0x7777u; /* QEMU sifive_test: system reset */
#endif
    park();
}

static void put_hex(uint32_t v) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 28; i >= 0; i -= 4) board_uart_putc((uint8_t)digits[(v >> i) & 0xFu]);
}

void board_fatal_trap(uint32_t mcause, uint32_t mepc, uint32_t mtval);
void board_fatal_trap(uint32_t mcause, uint32_t mepc, uint32_t mtval) {
    static const char msg[] = "\r\n*** trap mcause=0x";
    board_uart_write(msg, sizeof msg - 1);
    put_hex(mcause);
    board_uart_write(" mepc=0x", 8);
    put_hex(mepc);
    board_uart_write(" mtval=0x", 9);
    put_hex(mtval);
    board_puts("");
    board_exit(3);
}
