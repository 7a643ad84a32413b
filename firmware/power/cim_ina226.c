/* INA226 driver and $INA line format (see cim_ina226.h). No printf: the line is built by hand so
 * the small boards do not link a formatter. */
#include "cim_ina226.h"

int cim_ina226_read_reg(const cim_ina226_t *dev, uint8_t reg, uint16_t *value) {
    uint8_t r[2];
    if (dev->xfer(dev->ctx, dev->addr7, &reg, 1u, r, 2u) != 0) return CIM_INA226_ERR_BUS;
    *value = (uint16_t)((r[0] << 8) | r[1]); /* registers are big-endian */
    return CIM_INA226_OK;
}

int cim_ina226_write_reg(const cim_ina226_t *dev, uint8_t reg, uint16_t value) {
    uint8_t w[3] = {reg, (uint8_t)(value >> 8), (uint8_t)value};
    return dev->xfer(dev->ctx, dev->addr7, w, 3u, 0, 0u) == 0 ? CIM_INA226_OK : CIM_INA226_ERR_BUS;
}

int cim_ina226_init(const cim_ina226_t *dev, uint16_t config) {
    uint16_t mfr, die;
    if (cim_ina226_read_reg(dev, CIM_INA226_REG_MANUFACTURER, &mfr) != 0 ||
        cim_ina226_read_reg(dev, CIM_INA226_REG_DIE, &die) != 0)
        return CIM_INA226_ERR_BUS;
    if (mfr != CIM_INA226_MANUFACTURER_TI || (die & 0xFFF0u) != (CIM_INA226_DIE_ID & 0xFFF0u))
        return CIM_INA226_ERR_ID;
    return cim_ina226_write_reg(dev, CIM_INA226_REG_CONFIG, config);
}

int cim_ina226_read(const cim_ina226_t *dev, int16_t *shunt, uint16_t *bus) {
    uint16_t mask, s, b;
    if (cim_ina226_read_reg(dev, CIM_INA226_REG_MASK, &mask) != 0) return CIM_INA226_ERR_BUS;
    if ((mask & CIM_INA226_MASK_CVRF) == 0u) return CIM_INA226_ERR_NOT_READY; /* reading it cleared nothing */
    if (cim_ina226_read_reg(dev, CIM_INA226_REG_SHUNT, &s) != 0 ||
        cim_ina226_read_reg(dev, CIM_INA226_REG_BUS, &b) != 0)
        return CIM_INA226_ERR_BUS;
    *shunt = (int16_t)s;
    *bus = (uint16_t)(b & 0x7FFFu); /* bit 15 is always 0 */
    return CIM_INA226_OK;
}

static char *put_u32(char *p, uint32_t v) {
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

uint32_t cim_ina226_format(char *buf, uint32_t t_us, int16_t shunt, uint16_t bus, int mark) {
    static const char hex[] = "0123456789ABCDEF";
    char *p = buf;
    *p++ = '$';
    const char *body = p;
    *p++ = 'I';
    *p++ = 'N';
    *p++ = 'A';
    *p++ = ',';
    p = put_u32(p, t_us);
    *p++ = ',';
    if (shunt < 0) *p++ = '-';
    p = put_u32(p, shunt < 0 ? (uint32_t)(-(int32_t)shunt) : (uint32_t)shunt);
    *p++ = ',';
    p = put_u32(p, bus);
    *p++ = ',';
    *p++ = mark ? '1' : '0';
    uint8_t cs = 0;
    for (const char *q = body; q < p; q++) cs ^= (uint8_t)*q;
    *p++ = '*';
    *p++ = hex[cs >> 4];
    *p++ = hex[cs & 0xFu];
    *p++ = '\r';
    *p++ = '\n';
    *p = '\0';
    return (uint32_t)(p - buf);
}

uint32_t cim_ina226_sample_line(const cim_ina226_t *dev, uint32_t t_us, int mark, char *buf) {
    int16_t shunt;
    uint16_t bus;
    if (cim_ina226_read(dev, &shunt, &bus) != CIM_INA226_OK) return 0u;
    return cim_ina226_format(buf, t_us, shunt, bus, mark);
}
