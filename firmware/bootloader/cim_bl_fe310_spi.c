/* FE310 QSPI0 + SPI NOR flash driver for the bootloader (HiFive1 Rev B: ISSI IS25LP032D, 4 KiB
 * sectors, 256-byte pages). The flash is memory mapped for execution; to send it commands the
 * controller's memory-mapped mode (fctrl.en) is switched off, so nothing may be fetched from flash
 * meanwhile: every routine here lives in RAM (.ramfunc), calls only RAM routines, reads its data from
 * RAM (the bootloader stages every write in RAM) and switches memory-mapped mode back on before it
 * returns. Register map: FE310-G002 manual, chapter "Serial Peripheral Interface". */
#if defined(CIM_BOOTLOADER) && defined(CIM_BL_FLASH_FE310_SPI)

#include <stdint.h>

#include "cim_bl.h"

#define RAMFUNC __attribute__((section(".ramfunc"), noinline))
#define RAMINLINE __attribute__((always_inline)) static inline

#define QSPI0_BASE 0x10014000u
#define SPI_REG(off) (*(volatile uint32_t *)(uintptr_t)(QSPI0_BASE + (off)))
#define SPI_CSMODE 0x18u
#define SPI_FMT 0x40u
#define SPI_TXDATA 0x48u
#define SPI_RXDATA 0x4Cu
#define SPI_FCTRL 0x60u
#define CSMODE_AUTO 0u
#define CSMODE_HOLD 2u
#define FIFO_FLAG 0x80000000u     /* txdata: full; rxdata: empty */
#define FMT_SINGLE_8BIT 0x00080000u /* proto single, MSB first, dir rx (every byte read back), len 8 */

#define MMAP_BASE 0x20000000u /* flash address 0 is mapped here */
#define CMD_WREN 0x06u
#define CMD_RDSR 0x05u
#define CMD_SE 0x20u /* 4 KiB sector erase */
#define CMD_PP 0x02u /* page program, up to 256 bytes inside one page */
#define SR_WIP 0x01u
#define PAGE 256u

RAMINLINE uint8_t xfer(uint8_t b) {
    while (SPI_REG(SPI_TXDATA) & FIFO_FLAG) {
    }
    SPI_REG(SPI_TXDATA) = b;
    uint32_t r;
    do {
        r = SPI_REG(SPI_RXDATA);
    } while (r & FIFO_FLAG);
    return (uint8_t)r;
}

RAMINLINE void cmd_addr(uint8_t cmd, uint32_t addr) {
    xfer(cmd);
    xfer((uint8_t)(addr >> 16));
    xfer((uint8_t)(addr >> 8));
    xfer((uint8_t)addr);
}

RAMINLINE void cs_begin(void) { SPI_REG(SPI_CSMODE) = CSMODE_HOLD; }
RAMINLINE void cs_end(void) { SPI_REG(SPI_CSMODE) = CSMODE_AUTO; }

RAMINLINE void write_enable(void) {
    cs_begin();
    xfer(CMD_WREN);
    cs_end();
}

RAMINLINE void wait_ready(void) {
    uint8_t sr;
    cs_begin();
    xfer(CMD_RDSR);
    do {
        sr = xfer(0);
    } while (sr & SR_WIP);
    cs_end();
}

RAMINLINE void enter_command_mode(void) {
    SPI_REG(SPI_FCTRL) = 0u;
    SPI_REG(SPI_FMT) = FMT_SINGLE_8BIT;
    while ((SPI_REG(SPI_RXDATA) & FIFO_FLAG) == 0u) { /* drop stale receive bytes */
    }
}

RAMINLINE void leave_command_mode(void) {
    SPI_REG(SPI_FCTRL) = 1u;
    __asm__ volatile("fence" ::: "memory");
}

RAMFUNC static int spi_erase_sector(uint32_t addr) {
    enter_command_mode();
    write_enable();
    cs_begin();
    cmd_addr(CMD_SE, addr);
    cs_end();
    wait_ready();
    leave_command_mode();
    return 0;
}

RAMFUNC static int spi_program(uint32_t addr, const uint8_t *p, uint32_t n) {
    enter_command_mode();
    while (n > 0u) {
        uint32_t k = PAGE - (addr % PAGE); /* a page program wraps inside its page: never cross one */
        if (k > n) k = n;
        write_enable();
        cs_begin();
        cmd_addr(CMD_PP, addr);
        for (uint32_t i = 0; i < k; i++) xfer(p[i]);
        cs_end();
        wait_ready();
        addr += k;
        p += k;
        n -= k;
    }
    leave_command_mode();
    return 0;
}

int cim_bl_flash_erase(uint32_t off);
int cim_bl_flash_program(uint32_t off, const uint8_t *p, uint32_t n);

int cim_bl_flash_erase(uint32_t off) {
    if (off < CIM_BL_BOOTLOADER_SIZE || off >= CIM_BL_FLASH_SIZE) return -1; /* never the bootloader */
    off &= ~(CIM_BL_SECTOR - 1u);
    return spi_erase_sector(CIM_BL_FLASH_BASE - MMAP_BASE + off);
}

int cim_bl_flash_program(uint32_t off, const uint8_t *p, uint32_t n) {
    if (off < CIM_BL_BOOTLOADER_SIZE || (off & 3u) || (n & 3u) || off >= CIM_BL_FLASH_SIZE ||
        n > CIM_BL_FLASH_SIZE - off)
        return -1;
    if (spi_program(CIM_BL_FLASH_BASE - MMAP_BASE + off, p, n) != 0) return -1;
    const volatile uint8_t *q = (const volatile uint8_t *)(uintptr_t)(CIM_BL_FLASH_BASE + off);
    for (uint32_t i = 0; i < n; i++) /* read back through the memory map */
        if (q[i] != p[i]) return -1;
    return 0;
}

#endif /* CIM_BOOTLOADER && CIM_BL_FLASH_FE310_SPI */
