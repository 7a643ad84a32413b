/* SHA-256 (FIPS 180-4), streaming, no heap: the device checks an uploaded image against the
 * digest the host sends in COMMIT (and the bootloader before marking a slot bootable). */
#ifndef CIM_SHA256_H
#define CIM_SHA256_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    uint8_t block[64];
    uint32_t fill;  /* bytes waiting in block */
} cim_sha256_t;

void cim_sha256_init(cim_sha256_t *s);
void cim_sha256_update(cim_sha256_t *s, const uint8_t *data, uint32_t n);
void cim_sha256_final(cim_sha256_t *s, uint8_t digest[32]);
void cim_sha256(const uint8_t *data, uint32_t n, uint8_t digest[32]);

#ifdef __cplusplus
}
#endif

#endif /* CIM_SHA256_H */
