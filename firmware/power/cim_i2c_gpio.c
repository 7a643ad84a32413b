/* I2C master on two GPIO pins (bit-banged, ~100 kHz or slower), for the INA226 on boards whose pins
 * are given in board.toml [ina226] (BOARD_I2C_* in board_config.h). Open drain is emulated: a line is
 * driven low, or released to its pull-up (the INA226 breakout boards carry 10 kOhm pull-ups; the
 * FE310's internal pull-up is enabled too). No clock stretching: the INA226 does not stretch. */
#include "cim_i2c_gpio.h"

#include "board.h" /* board_config.h: BOARD_I2C_* from board.toml [ina226] */

#if defined(BOARD_I2C_GPIO_BASE)

#define GPIO(off) (*(volatile uint32_t *)(uintptr_t)(BOARD_I2C_GPIO_BASE + (off)))
#define SDA (1u << BOARD_I2C_SDA_PIN)
#define SCL (1u << BOARD_I2C_SCL_PIN)

#if defined(BOARD_GPIO_GD32)
/* GD32VF103 GPIO: 4 control bits per pin in CTL0 (pins 0-7) / CTL1 (8-15); 0x7 = open-drain output,
 * 50 MHz; OCTL 1 releases the pin, 0 pulls it low; ISTAT reads it. */
static void pin_mode_od(uint32_t pin) {
    volatile uint32_t *rcu_apb2en = (volatile uint32_t *)0x40021018u;
    *rcu_apb2en |= 1u << (2u + (BOARD_I2C_GPIO_BASE - 0x40010800u) / 0x400u);
    uint32_t off = pin < 8u ? 0x00u : 0x04u, shift = (pin % 8u) * 4u;
    GPIO(off) = (GPIO(off) & ~(0xFu << shift)) | (0x7u << shift);
}
static void line_set(uint32_t mask, int high) { GPIO(high ? 0x10u : 0x14u) = mask; } /* BOP / BC */
static int line_get(uint32_t mask) { return (GPIO(0x08u) & mask) != 0u; }
static void lines_init(void) {
    pin_mode_od(BOARD_I2C_SDA_PIN);
    pin_mode_od(BOARD_I2C_SCL_PIN);
    line_set(SDA | SCL, 1);
}
#elif defined(BOARD_GPIO_SIFIVE)
/* FE310 GPIO: output_val stays 0; output_en on pulls the line low, off releases it; pue = pull-up. */
static void line_set(uint32_t mask, int high) {
    if (high) GPIO(0x08u) &= ~mask;
    else GPIO(0x08u) |= mask;
}
static int line_get(uint32_t mask) { return (GPIO(0x00u) & mask) != 0u; }
static void lines_init(void) {
    GPIO(0x38u) &= ~(SDA | SCL); /* iof_en off: plain GPIO */
    GPIO(0x0Cu) &= ~(SDA | SCL); /* output_val 0 */
    GPIO(0x10u) |= SDA | SCL;    /* pull-ups */
    GPIO(0x04u) |= SDA | SCL;    /* input_en */
    line_set(SDA | SCL, 1);
}
#else
#error "cim_i2c_gpio: no GPIO driver for this board's gpio_family"
#endif

static void delay(void) {
    uint64_t end = board_cycles() + BOARD_CLOCK_HZ / 200000u + 1u; /* ~5 us: a 100 kHz half period */
    while (board_cycles() < end) {
    }
}

static void start(void) {
    line_set(SDA, 1);
    line_set(SCL, 1);
    delay();
    line_set(SDA, 0);
    delay();
    line_set(SCL, 0);
}

static void stop(void) {
    line_set(SDA, 0);
    delay();
    line_set(SCL, 1);
    delay();
    line_set(SDA, 1);
    delay();
}

static int put_byte(uint8_t b) { /* returns 0 on ACK */
    for (int i = 7; i >= 0; i--) {
        line_set(SDA, (b >> i) & 1u);
        delay();
        line_set(SCL, 1);
        delay();
        line_set(SCL, 0);
    }
    line_set(SDA, 1);
    delay();
    line_set(SCL, 1);
    delay();
    int nack = line_get(SDA);
    line_set(SCL, 0);
    return nack ? -1 : 0;
}

static uint8_t get_byte(int ack) {
    uint8_t b = 0;
    line_set(SDA, 1);
    for (int i = 0; i < 8; i++) {
        delay();
        line_set(SCL, 1);
        delay();
        b = (uint8_t)((b << 1) | (line_get(SDA) ? 1u : 0u));
        line_set(SCL, 0);
    }
    line_set(SDA, ack ? 0 : 1);
    delay();
    line_set(SCL, 1);
    delay();
    line_set(SCL, 0);
    line_set(SDA, 1);
    return b;
}

void cim_i2c_gpio_init(void) { lines_init(); }

int cim_i2c_gpio_xfer(void *ctx, uint8_t addr7, const uint8_t *w, uint32_t wn, uint8_t *r, uint32_t rn) {
    (void)ctx;
    int rc = 0;
    if (wn) {
        start();
        rc = put_byte((uint8_t)(addr7 << 1));
        for (uint32_t i = 0; rc == 0 && i < wn; i++) rc = put_byte(w[i]);
    }
    if (rc == 0 && rn) {
        start(); /* a repeated start after the pointer write */
        rc = put_byte((uint8_t)((addr7 << 1) | 1u));
        for (uint32_t i = 0; rc == 0 && i < rn; i++) r[i] = get_byte(i + 1u < rn);
    }
    stop();
    return rc;
}

#endif /* BOARD_I2C_GPIO_BASE */
