/* Bare-metal rv32 benchmark of the runtime (benchmarks/bench_runtime.py): qemu-system-riscv32 -M virt
 * -bios none -icount shift=0 -semihosting. The image and one input are linked in (cim_bench_data.S);
 * prints minstret per op and per whole inference, and the output bytes, over semihosting. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cim_runtime.h"

extern const uint8_t cim_bench_image[], cim_bench_image_end[];
extern const uint8_t cim_bench_input[], cim_bench_input_end[];

static inline uint64_t instret(void) {
    uint32_t hi, lo, hi2;
    do {
        __asm__ volatile(".option push\n.option arch, +zicsr\ncsrr %0, minstreth\n.option pop" : "=r"(hi));
        __asm__ volatile(".option push\n.option arch, +zicsr\ncsrr %0, minstret\n.option pop" : "=r"(lo));
        __asm__ volatile(".option push\n.option arch, +zicsr\ncsrr %0, minstreth\n.option pop" : "=r"(hi2));
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

int main(void) {
    const uint32_t size = (uint32_t)(cim_bench_image_end - cim_bench_image);
    uint64_t t0 = instret();
    int rc = cim_rt_load(cim_bench_image, size);
    uint64_t t1 = instret();
    printf("load %d insns %lu\n", rc, (unsigned long)(t1 - t0));
    if (rc != 0) return 1;
    uint32_t in_size;
    int8_t *in = cim_rt_input(&in_size);
    memcpy(in, cim_bench_input, in_size);
    const uint32_t n = cim_rt_num_ops();
    for (uint32_t i = 0; i < n; i++) {
        cim_op_t op;
        const uint16_t *tids;
        cim_rt_get_op(i, &op, &tids);
        uint64_t a = instret();
        rc = cim_rt_invoke_ops(i, 1);
        uint64_t b = instret();
        printf("op %lu %u %d insns %lu\n", (unsigned long)i, (unsigned)op.opcode, rc, (unsigned long)(b - a));
    }
    memcpy(in, cim_bench_input, in_size);
    uint64_t a = instret();
    rc = cim_rt_invoke();
    uint64_t b = instret();
    printf("invoke %d insns %lu\n", rc, (unsigned long)(b - a));
    uint32_t out_size;
    const int8_t *out = cim_rt_output(&out_size);
    printf("output");
    for (uint32_t i = 0; i < out_size; i++) printf(" %d", out[i]);
    printf("\n");
    return 0;
}
