// Unit-test host of cim_requant: stdin carries records of six little-endian int32 (acc, mult, shift,
// out_zp, act_min, act_max); stdout gets one int8 per record. The block is combinational: set, eval.
#include <cstdint>
#include <cstdio>

#include "Vcim_requant.h"
#include "verilated.h"

int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    Vcim_requant top;
    int32_t r[6];
    while (fread(r, sizeof r, 1, stdin) == 1) {
        top.acc = (uint32_t)r[0];
        top.mult = (uint32_t)r[1];
        top.shift = (uint32_t)r[2];
        top.out_zp = (uint32_t)r[3];
        top.act_min = (uint32_t)r[4];
        top.act_max = (uint32_t)r[5];
        top.eval();
        int8_t y = (int8_t)top.y;
        fwrite(&y, 1, 1, stdout);
    }
    top.final();
    return 0;
}
