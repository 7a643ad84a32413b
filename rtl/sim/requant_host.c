/* Unit-test host of the sequencer's requantization (rtl/seq/cim_requant.h), compiled for the host:
 * stdin carries records of six little-endian int32 (acc, mult, shift, out_zp, act_min, act_max);
 * stdout gets one int8 per record. */
#include <stdio.h>

#include "../seq/cim_requant.h"

static uint32_t mul16(uint32_t a, uint32_t b) { return a * b; }

int main(void) {
    int32_t r[6];
    while (fread(r, sizeof r, 1, stdin) == 1) {
        int8_t y = (int8_t)cim_requant(r[0], r[1], r[2], r[3], r[4], r[5]);
        fwrite(&y, 1, 1, stdout);
    }
    return 0;
}
