/* A simulated INA226 on a simulated I2C bus, driving the real driver (firmware/power/cim_ina226.c) on
 * the host. The chip model follows TI SBOS547: a register pointer set by the first byte of a write,
 * 16-bit big-endian registers, writes of pointer + 2 bytes, reads from the pointer, NACK for another
 * address, the conversion-ready flag (CVRF, Mask/Enable bit 3) set by a new conversion and cleared
 * when Mask/Enable is read.
 *   ina226_sim ADDR_HEX MANUFACTURER_HEX < SCRIPT
 * SCRIPT lines: "conv SHUNT BUS" (a conversion completes), "poll T_US MARK" (the firmware samples: prints
 * its $INA line, or "none"), "config" (prints the configuration register). First output line: "init RC". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cim_ina226.h"

static uint16_t regs[256];
static uint8_t pointer;
static unsigned chip_addr;
static long transactions;

static int sim_xfer(void *ctx, uint8_t addr7, const uint8_t *w, uint32_t wn, uint8_t *r, uint32_t rn) {
    (void)ctx;
    transactions++;
    if (addr7 != chip_addr) return -1; /* no ACK */
    if (wn >= 1u) pointer = w[0];
    if (wn == 3u) {
        if (pointer == CIM_INA226_REG_CONFIG || pointer == 0x05u || pointer == CIM_INA226_REG_MASK || pointer == 0x07u)
            regs[pointer] = (uint16_t)((w[1] << 8) | w[2]);
    } else if (wn != 0u && wn != 1u) {
        return -1;
    }
    if (rn) {
        if (rn != 2u) return -1;
        uint16_t v = regs[pointer];
        r[0] = (uint8_t)(v >> 8);
        r[1] = (uint8_t)v;
        if (pointer == CIM_INA226_REG_MASK) regs[CIM_INA226_REG_MASK] &= (uint16_t)~CIM_INA226_MASK_CVRF;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: ina226_sim ADDR_HEX MANUFACTURER_HEX < SCRIPT\n");
        return 2;
    }
    chip_addr = (unsigned)strtoul(argv[1], 0, 16);
    regs[CIM_INA226_REG_CONFIG] = 0x4127u; /* power-on default */
    regs[CIM_INA226_REG_MANUFACTURER] = (uint16_t)strtoul(argv[2], 0, 16);
    regs[CIM_INA226_REG_DIE] = CIM_INA226_DIE_ID;
    cim_ina226_t dev = {.xfer = sim_xfer, .ctx = 0, .addr7 = 0x40u};
    printf("init %d\n", cim_ina226_init(&dev, CIM_INA226_CONFIG_FAST));
    char line[128], out[CIM_INA226_LINE_MAX];
    while (fgets(line, sizeof line, stdin)) {
        long a, b;
        if (sscanf(line, "conv %ld %ld", &a, &b) == 2) {
            regs[CIM_INA226_REG_SHUNT] = (uint16_t)(int16_t)a;
            regs[CIM_INA226_REG_BUS] = (uint16_t)b;
            regs[CIM_INA226_REG_MASK] |= CIM_INA226_MASK_CVRF;
        } else if (sscanf(line, "poll %ld %ld", &a, &b) == 2) {
            uint32_t n = cim_ina226_sample_line(&dev, (uint32_t)a, (int)b, out);
            if (n == 0u) printf("none\n");
            else fwrite(out, 1, n, stdout);
        } else if (strncmp(line, "config", 6) == 0) {
            printf("config 0x%04X\n", regs[CIM_INA226_REG_CONFIG]);
        }
    }
    return 0;
}
