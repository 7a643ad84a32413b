/* Test double of the firmware runtime, for host-side console tests ONLY (never in firmware/).
 *
 * Its "image": "FAKE", in_size u32, out_size u32, fail_after u32, bias int8[out_size].
 * invoke: out[j] = saturate(in[j % in_size] + bias[j]); the n-th invoke fails with -7 when
 * fail_after != 0 and n > fail_after. Tests compute the expected output independently. */
#include <stdint.h>
#include <string.h>

#include "cim_runtime.h"

static int8_t input[4096];
static int8_t output[4096];
static const uint8_t *img;
static uint32_t in_size, out_size, fail_after, invokes;

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

int cim_rt_load(const uint8_t *image, uint32_t size) {
    img = 0;
    if (size < 16 || memcmp(image, "FAKE", 4) != 0) return -1;
    uint32_t in = rd32(image + 4), out = rd32(image + 8);
    if (in == 0 || in > sizeof input || out == 0 || out > sizeof output) return -2;
    if (size != 16u + out) return -3;
    in_size = in;
    out_size = out;
    fail_after = rd32(image + 12);
    invokes = 0;
    img = image;
    memset(input, 0, sizeof input);
    memset(output, 0, sizeof output);
    return 0;
}

int8_t *cim_rt_input(uint32_t *size) {
    *size = img ? in_size : 0;
    return img ? input : 0;
}

const int8_t *cim_rt_output(uint32_t *size) {
    *size = img ? out_size : 0;
    return img ? output : 0;
}

/* One input and one output (the real runtime may have several). */
int8_t *cim_rt_input_at(uint32_t index, uint32_t *size) {
    if (index == 0) return cim_rt_input(size);
    *size = 0;
    return 0;
}

const int8_t *cim_rt_output_at(uint32_t index, uint32_t *size) {
    if (index == 0) return cim_rt_output(size);
    *size = 0;
    return 0;
}

int cim_rt_invoke(void) {
    if (!img) return -4;
    invokes++;
    if (fail_after && invokes > fail_after) return -7;
    const int8_t *bias = (const int8_t *)(img + 16);
    for (uint32_t j = 0; j < out_size; j++) {
        int v = input[j % in_size] + bias[j];
        output[j] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
    }
    return 0;
}

uint32_t cim_rt_arena_used(void) { return img ? in_size + out_size : 0; }
uint32_t cim_rt_state_bytes(void) { return 0; } /* the fake image has no state */
uint32_t cim_rt_reset_state(void) { return 0; }
