/* The board as its own power meter: sample the INA226 on the board's I2C pins and stream $INA lines
 * on the console (`cimsdk profile --meter ina226:PORT` reads them). The marker column follows the
 * board's marker (1 while an inference runs); this example runs no model, so it stays 0. */
#include <stdint.h>

#include "board.h"
#include "cim_i2c_gpio.h"
#include "cim_ina226.h"

int main(void) {
    board_init();
    cim_i2c_gpio_init();
    cim_ina226_t ina = {.xfer = cim_i2c_gpio_xfer, .ctx = 0, .addr7 = BOARD_INA226_ADDR};
    int rc = cim_ina226_init(&ina, CIM_INA226_CONFIG_FAST);
    if (rc != CIM_INA226_OK) {
        board_puts(rc == CIM_INA226_ERR_ID ? "ina226: another chip answers at its address" : "ina226: no answer on I2C");
        board_exit(1);
    }
    char line[CIM_INA226_LINE_MAX];
    for (;;) {
        uint32_t t_us = (uint32_t)(board_ticks() * 1000000u / board_tick_hz());
        uint32_t n = cim_ina226_sample_line(&ina, t_us, 0, line);
        if (n) board_uart_write(line, n);
    }
}
