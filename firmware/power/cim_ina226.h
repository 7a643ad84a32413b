/* INA226 current/power monitor on I2C: the firmware half of `cimsdk profile --meter ina226`.
 * The board samples the INA226 and prints one line per conversion on its console:
 *     $INA,<t_us>,<shunt>,<bus>,<mark>*<XX>\r\n
 * (raw Shunt Voltage register as signed decimal, 2.5 uV/LSB; raw Bus Voltage register, 1.25 mV/LSB;
 * mark = 1 while an inference runs; XX = XOR of the characters between '$' and '*'), which
 * sdk/power/meters/ina226.py parses. The driver talks to the chip through an I2C transfer function,
 * so the same code runs over a board's I2C (cim_i2c_gpio.c bit-bangs two GPIO pins) and, on the host,
 * against a simulated INA226 (tests/c/ina226_sim.c). Register map: TI SBOS547. */
#ifndef CIM_INA226_H
#define CIM_INA226_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CIM_INA226_REG_CONFIG 0x00u
#define CIM_INA226_REG_SHUNT 0x01u
#define CIM_INA226_REG_BUS 0x02u
#define CIM_INA226_REG_MASK 0x06u
#define CIM_INA226_REG_MANUFACTURER 0xFEu
#define CIM_INA226_REG_DIE 0xFFu
#define CIM_INA226_MANUFACTURER_TI 0x5449u /* "TI" */
#define CIM_INA226_DIE_ID 0x2260u
#define CIM_INA226_MASK_CVRF 0x0008u /* conversion ready */
/* Default configuration: 1 average, 140 us bus and shunt conversions, shunt and bus continuous. */
#define CIM_INA226_CONFIG_FAST 0x4007u
#define CIM_INA226_LINE_MAX 48u

/* One I2C transaction to a 7-bit address: write `wn` bytes, then (repeated start) read `rn` bytes;
 * 0 on success, negative on a NACK or bus error. */
typedef int (*cim_i2c_xfer_fn)(void *ctx, uint8_t addr7, const uint8_t *w, uint32_t wn, uint8_t *r, uint32_t rn);

typedef struct {
    cim_i2c_xfer_fn xfer;
    void *ctx;
    uint8_t addr7; /* 0x40..0x4F, set by the A0/A1 pins */
} cim_ina226_t;

enum { CIM_INA226_OK = 0, CIM_INA226_ERR_BUS = -1, CIM_INA226_ERR_ID = -2, CIM_INA226_ERR_NOT_READY = -3 };

/* Check the manufacturer and die IDs, write `config`; CIM_INA226_ERR_ID for another chip. */
int cim_ina226_init(const cim_ina226_t *dev, uint16_t config);
int cim_ina226_read_reg(const cim_ina226_t *dev, uint8_t reg, uint16_t *value);
int cim_ina226_write_reg(const cim_ina226_t *dev, uint8_t reg, uint16_t value);
/* One conversion: shunt and bus registers, if the conversion-ready flag is set (else ERR_NOT_READY). */
int cim_ina226_read(const cim_ina226_t *dev, int16_t *shunt, uint16_t *bus);
/* The $INA line for a sample into buf (>= CIM_INA226_LINE_MAX bytes), NUL-terminated; returns its length. */
uint32_t cim_ina226_format(char *buf, uint32_t t_us, int16_t shunt, uint16_t bus, int mark);
/* Read one conversion and format its line; 0 (and no line) when no new conversion is ready. */
uint32_t cim_ina226_sample_line(const cim_ina226_t *dev, uint32_t t_us, int mark, char *buf);

#ifdef __cplusplus
}
#endif

#endif /* CIM_INA226_H */
