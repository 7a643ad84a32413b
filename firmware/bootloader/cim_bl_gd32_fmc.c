/* GD32VF103 flash memory controller (FMC) driver for the bootloader: 1 KiB pages (the erase unit),
 * 32-bit word programming (GD32VF103 user manual, chapter FMC; the register map is the STM32F1 one).
 * The FMC stalls instruction fetches from flash while it is busy, so the routines could run in place;
 * they live in RAM (.ramfunc) anyway, like every bootloader flash driver, so a wait loop never fetches
 * from the bank it is programming. The bootloader region itself is never erased or programmed. */
#if defined(CIM_BOOTLOADER) && defined(CIM_BL_FLASH_GD32_FMC)

#include <stdint.h>

#include "cim_bl.h"

#define RAMFUNC __attribute__((section(".ramfunc"), noinline))

#define FMC_BASE 0x40022000u
#define FMC_KEY0 (*(volatile uint32_t *)(uintptr_t)(FMC_BASE + 0x04u))
#define FMC_STAT0 (*(volatile uint32_t *)(uintptr_t)(FMC_BASE + 0x0Cu))
#define FMC_CTL0 (*(volatile uint32_t *)(uintptr_t)(FMC_BASE + 0x10u))
#define FMC_ADDR0 (*(volatile uint32_t *)(uintptr_t)(FMC_BASE + 0x14u))
#define STAT_BUSY 0x01u
#define STAT_PGERR 0x04u
#define STAT_WPERR 0x10u
#define STAT_ENDF 0x20u
#define CTL_PG 0x01u
#define CTL_PER 0x02u
#define CTL_START 0x40u
#define CTL_LK 0x80u
#define UNLOCK_KEY0 0x45670123u
#define UNLOCK_KEY1 0xCDEF89ABu

RAMFUNC static uint32_t fmc_wait(void) {
    uint32_t st;
    do {
        st = FMC_STAT0;
    } while (st & STAT_BUSY);
    FMC_STAT0 = STAT_PGERR | STAT_WPERR | STAT_ENDF; /* write 1 to clear */
    return st & (STAT_PGERR | STAT_WPERR);
}

RAMFUNC static void fmc_unlock(void) {
    if (FMC_CTL0 & CTL_LK) {
        FMC_KEY0 = UNLOCK_KEY0;
        FMC_KEY0 = UNLOCK_KEY1;
    }
}

RAMFUNC static int fmc_erase_page(uint32_t addr) {
    fmc_unlock();
    (void)fmc_wait();
    FMC_CTL0 |= CTL_PER;
    FMC_ADDR0 = addr;
    FMC_CTL0 |= CTL_START;
    uint32_t err = fmc_wait();
    FMC_CTL0 &= ~CTL_PER;
    FMC_CTL0 |= CTL_LK;
    return err ? -1 : 0;
}

RAMFUNC static int fmc_program_words(volatile uint32_t *dst, const uint8_t *src, uint32_t words) {
    uint32_t err = 0;
    fmc_unlock();
    (void)fmc_wait();
    FMC_CTL0 |= CTL_PG;
    for (uint32_t i = 0; i < words && !err; i++) {
        uint32_t v = (uint32_t)src[4 * i] | ((uint32_t)src[4 * i + 1] << 8) | ((uint32_t)src[4 * i + 2] << 16) |
                     ((uint32_t)src[4 * i + 3] << 24);
        if (v == 0xFFFFFFFFu) continue; /* erased already */
        dst[i] = v;
        err = fmc_wait();
        if (!err && dst[i] != v) err = STAT_PGERR;
    }
    FMC_CTL0 &= ~CTL_PG;
    FMC_CTL0 |= CTL_LK;
    return err ? -1 : 0;
}

int cim_bl_flash_erase(uint32_t off);
int cim_bl_flash_program(uint32_t off, const uint8_t *p, uint32_t n);

int cim_bl_flash_erase(uint32_t off) {
    if (off < CIM_BL_BOOTLOADER_SIZE || off >= CIM_BL_FLASH_SIZE) return -1; /* never the bootloader */
    off &= ~(CIM_BL_SECTOR - 1u);
    return fmc_erase_page(CIM_BL_FLASH_BASE + off);
}

int cim_bl_flash_program(uint32_t off, const uint8_t *p, uint32_t n) {
    if (off < CIM_BL_BOOTLOADER_SIZE || (off & 3u) || (n & 3u) || off >= CIM_BL_FLASH_SIZE ||
        n > CIM_BL_FLASH_SIZE - off)
        return -1;
    return fmc_program_words((volatile uint32_t *)(uintptr_t)(CIM_BL_FLASH_BASE + off), p, n / 4u);
}

#endif /* CIM_BOOTLOADER && CIM_BL_FLASH_GD32_FMC */
