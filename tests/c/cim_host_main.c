/* Host harness for the firmware runtime (tests/test_runtime_host.py, benchmarks).
 *
 *   cim_host IMAGE INPUTS OUTPUTS   run every input record of INPUTS (raw bytes, a multiple of the
 *                                   model's input size; a model of several inputs: each record is
 *                                   its inputs back to back) and write the outputs back to back
 *                                   (every output of a record, in the model's order)
 *   cim_host IMAGE INPUTS OUTPUTS NOPS TENSOR
 *                                   run only the first NOPS ops and write tensor TENSOR instead
 *   cim_host IMAGE                  only load: exit status 0, or 3 with the runtime's error code
 *
 * Built natively with the same sources as the firmware (runtime, dispatch, CPU kernels, soft CiM
 * kernels, the HAL's soft backend); only this file and the static image buffer are host-specific. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cim_runtime.h"

#ifndef CIM_HOST_IMAGE_MAX
#define CIM_HOST_IMAGE_MAX (4u << 20)
#endif

static uint8_t image[CIM_HOST_IMAGE_MAX] __attribute__((aligned(8)));

static long read_file(const char *path, uint8_t *buf, long cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    long n = (long)fread(buf, 1, (size_t)cap, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    return more ? -2 : n;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 4 && argc != 6) {
        fprintf(stderr, "usage: %s IMAGE [INPUTS OUTPUTS]\n", argv[0]);
        return 2;
    }
    long n = read_file(argv[1], image, (long)sizeof image);
    if (n < 0) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    int rc = cim_rt_load(image, (uint32_t)n);
    if (rc != 0) {
        printf("load %d %s\n", rc, cim_rt_strerror(rc));
        return 3;
    }
    printf("load 0 arena %u\n", (unsigned)cim_rt_arena_used());
    if (argc == 2) return 0;

    uint32_t in_size, out_size;
    int8_t *in = cim_rt_input(&in_size);
    const int8_t *out = cim_rt_output(&out_size);
    uint32_t n_ops = cim_rt_num_ops();
    if (argc == 6) {
        cim_tensor_t t;
        n_ops = (uint32_t)strtoul(argv[4], NULL, 0);
        if (cim_rt_tensor((uint32_t)strtoul(argv[5], NULL, 0), &t) != 0) return 2;
        out = (const int8_t *)t.data;
        out_size = t.nbytes;
    }
    FILE *fi = fopen(argv[2], "rb");
    FILE *fo = fopen(argv[3], "wb");
    if (!fi || !fo) {
        fprintf(stderr, "cannot open %s or %s\n", argv[2], argv[3]);
        return 2;
    }
    /* the full program reads every model input and writes every output; a partial run one tensor */
    const uint32_t n_in = argc == 6 ? 1u : cim_rt_num_inputs(), n_out = argc == 6 ? 1u : cim_rt_num_outputs();
    unsigned count = 0;
    for (;;) {
        uint32_t got = 0;
        for (uint32_t i = 0; i < n_in; i++) {
            int8_t *dst = n_in == 1 ? in : cim_rt_input_at(i, &in_size);
            got += fread(dst, 1, in_size, fi) == in_size;
        }
        if (got != n_in) break;
        rc = cim_rt_invoke_ops(0, n_ops);
        if (rc != 0) {
            printf("invoke %d %s at op %u\n", rc, cim_rt_strerror(rc), (unsigned)cim_rt_last_op());
            return 4;
        }
        for (uint32_t i = 0; i < n_out; i++) {
            const int8_t *src = n_out == 1 ? out : cim_rt_output_at(i, &out_size);
            if (fwrite(src, 1, out_size, fo) != out_size) return 2;
        }
        count++;
    }
    fclose(fi);
    fclose(fo);
    printf("ran %u\n", count);
    return 0;
}
