/* Bit-banged I2C master on two GPIO pins (board.toml [ina226]); see cim_i2c_gpio.c. */
#ifndef CIM_I2C_GPIO_H
#define CIM_I2C_GPIO_H

#include <stdint.h>

void cim_i2c_gpio_init(void);
/* cim_i2c_xfer_fn: write wn bytes, repeated start, read rn bytes; 0 on success, -1 on a NACK. */
int cim_i2c_gpio_xfer(void *ctx, uint8_t addr7, const uint8_t *w, uint32_t wn, uint8_t *r, uint32_t rn);

#endif /* CIM_I2C_GPIO_H */
