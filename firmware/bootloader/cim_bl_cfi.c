/* CFI NOR flash driver, Intel/Sharp command set (QEMU virt's pflash_cfi01: 4-byte bank, 256 KiB
 * erase blocks). While the part is in command mode it answers reads with its status register, so
 * code cannot execute from it: the two routines that issue commands live in RAM (.ramfunc,
 * copied there by start.S) and touch nothing in flash until they put the part back into
 * read-array mode. */
#if defined(CIM_BOOTLOADER)

#include <stdint.h>

#include "cim_bl.h"

#define RAMFUNC __attribute__((section(".ramfunc"), noinline))

#define CFI_READ_ARRAY 0xFFu
#define CFI_CLEAR_STATUS 0x50u
#define CFI_BLOCK_ERASE 0x20u
#define CFI_CONFIRM 0xD0u
#define CFI_WORD_PROGRAM 0x40u
#define CFI_SR_READY 0x80u
#define CFI_SR_ERRORS 0x3Au /* erase error, program error, Vpp low, block locked */

RAMFUNC static int cfi_erase_block(volatile uint32_t *blk) {
    uint32_t st;
    *blk = CFI_CLEAR_STATUS;
    *blk = CFI_BLOCK_ERASE;
    *blk = CFI_CONFIRM;
    do {
        st = *blk;
    } while ((st & CFI_SR_READY) == 0u);
    *blk = CFI_CLEAR_STATUS;
    *blk = CFI_READ_ARRAY;
    return (st & CFI_SR_ERRORS) ? -1 : 0;
}

RAMFUNC static int cfi_program_words(volatile uint32_t *dst, const uint8_t *src, uint32_t words) {
    uint32_t st = 0;
    for (uint32_t i = 0; i < words; i++) {
        uint32_t v = (uint32_t)src[4 * i] | ((uint32_t)src[4 * i + 1] << 8) | ((uint32_t)src[4 * i + 2] << 16) |
                     ((uint32_t)src[4 * i + 3] << 24);
        if (v == 0xFFFFFFFFu) continue; /* erased already */
        dst[i] = CFI_WORD_PROGRAM;
        dst[i] = v;
        do {
            st = dst[i];
        } while ((st & CFI_SR_READY) == 0u);
        if (st & CFI_SR_ERRORS) break;
    }
    dst[0] = CFI_CLEAR_STATUS;
    dst[0] = CFI_READ_ARRAY;
    return (st & CFI_SR_ERRORS) ? -1 : 0;
}

/* Write-to-buffer programming (0xE8): up to BUF_WORDS words per command, one flash update on
 * the confirm instead of one per word. Falls back to word programming on any error. */
#define CFI_WRITE_BUFFER 0xE8u
#define BUF_WORDS 64u

RAMFUNC static int cfi_program_buffer(volatile uint32_t *dst, const uint8_t *src, uint32_t words) {
    uint32_t st;
    dst[0] = CFI_CLEAR_STATUS;
    dst[0] = CFI_WRITE_BUFFER;
    do {
        st = dst[0];
    } while ((st & CFI_SR_READY) == 0u);
    dst[0] = words - 1u;
    for (uint32_t i = 0; i < words; i++)
        dst[i] = (uint32_t)src[4 * i] | ((uint32_t)src[4 * i + 1] << 8) | ((uint32_t)src[4 * i + 2] << 16) |
                 ((uint32_t)src[4 * i + 3] << 24);
    dst[0] = CFI_CONFIRM;
    do {
        st = dst[0];
    } while ((st & CFI_SR_READY) == 0u);
    dst[0] = CFI_CLEAR_STATUS;
    dst[0] = CFI_READ_ARRAY;
    return (st & CFI_SR_ERRORS) ? -1 : 0;
}

int cim_bl_flash_erase(uint32_t off);
int cim_bl_flash_program(uint32_t off, const uint8_t *p, uint32_t n);

int cim_bl_flash_erase(uint32_t off) {
    if (off < CIM_BL_BOOTLOADER_SIZE || off >= CIM_BL_FLASH_SIZE) return -1; /* never the bootloader */
    off &= ~(CIM_BL_SECTOR - 1u);
    return cfi_erase_block((volatile uint32_t *)(uintptr_t)(CIM_BL_FLASH_BASE + off));
}

int cim_bl_flash_program(uint32_t off, const uint8_t *p, uint32_t n) {
    if (off < CIM_BL_BOOTLOADER_SIZE || (off & 3u) || (n & 3u) || off >= CIM_BL_FLASH_SIZE ||
        n > CIM_BL_FLASH_SIZE - off)
        return -1;
    volatile uint32_t *dst = (volatile uint32_t *)(uintptr_t)(CIM_BL_FLASH_BASE + off);
    uint32_t words = n / 4u;
    for (uint32_t i = 0; i < words;) {
        /* chunks that stay inside one write buffer window (BUF_WORDS-aligned) */
        uint32_t k = BUF_WORDS - (((off / 4u) + i) % BUF_WORDS);
        if (k > words - i) k = words - i;
        int ok = cfi_program_buffer(dst + i, p + 4u * i, k) == 0;
        for (uint32_t j = 0; ok && j < 4u * k; j++)
            if (((const volatile uint8_t *)(dst + i))[j] != p[4u * i + j]) ok = 0;
        if (!ok && cfi_program_words(dst + i, p + 4u * i, k) != 0) return -1;
        i += k;
    }
    return 0;
}

#endif /* CIM_BOOTLOADER */
