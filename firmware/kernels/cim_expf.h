/* exp(d) for float32 d <= 0, in float32 operations only, bit-equal to the golden model's `expf_neg`
 * (sdk/golden/kernels/_float.py): the float SOFTMAX of float models on a floating-point target. Not the C
 * library's expf, so host and device compute the same bits: k = floor(d log2(e) + 1/2), r = d - k ln2 (ln2 in
 * two parts), Cephes' degree-6 polynomial, times 2^k; 0 once 2^k is below float32's normal range. Each
 * operation is a separate correctly rounded float32 operation (rv32imac: soft-float, no fused multiply-add). */
#ifndef CIM_EXPF_H
#define CIM_EXPF_H

#include <stdint.h>
#include <string.h>

#define CIM_EXPF_K_MIN (-125)

static inline float cim_expf_neg(float d) {
    const float t = d * 1.44269504f + 0.5f;
    if (!(t >= (float)CIM_EXPF_K_MIN)) return 0.0f;
    int32_t k = (int32_t)t;
    if ((float)k > t) k -= 1; /* floor */
    const float kf = (float)k;
    const float r = (d - kf * 0.693359375f) - kf * -2.12194440e-4f;
    const float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float y = (p * z + r) + 1.0f;
    const uint32_t bits = (uint32_t)(k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

#endif /* CIM_EXPF_H */
