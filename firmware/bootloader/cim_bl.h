/* cimsdk serial bootloader core (docs/bootloader.md): the framed protocol's bootloader commands,
 * A/B slots, erase-as-you-go uploads with resume, SHA-256 (and optional ed25519) checks before a
 * slot is committed, and the boot decision. Board independent: flash access and the UART come in
 * through cim_bl_cfg_t, so the same code runs on QEMU's CFI flash and on the host with a
 * simulated flash (tests, fuzzing). No heap, C11.
 *
 * Every file of firmware/bootloader/ is guarded by CIM_BOOTLOADER (or CIM_SLOT_APP/CIM_BL_HOST)
 * because the default application build links every firmware/ folder. */
#ifndef CIM_BL_H
#define CIM_BL_H

#include <stdint.h>

#ifndef CIM_BL_HOST
#include "board_config.h" /* BOARD_<NAME> selects the flash layout */
#endif
#include "cim_bl_layout.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CIM_BL_VERSION "1.0.0"

typedef struct {
    const volatile uint8_t *flash;                       /* flash, memory mapped (reads) */
    int (*erase)(uint32_t off);                          /* erase the sector holding flash offset off */
    int (*program)(uint32_t off, const uint8_t *p, uint32_t n); /* off and n multiples of 4 */
    void (*putc)(uint8_t byte);
    const char *board;
    const char *targets;          /* CiM targets the application accepts ("" = any) */
    const uint8_t *pubkey;        /* ed25519 public key; NULL: no signature checks */
    int signed_only;              /* refuse unsigned images (needs pubkey) */
    uint8_t *rx_buf;
    uint32_t rx_cap;
} cim_bl_cfg_t;

/* What the caller does after cim_bl_feed returned (the reply is already sent). */
enum { CIM_BL_ACT_NONE = 0, CIM_BL_ACT_RESET = 1, CIM_BL_ACT_BOOT = 2, CIM_BL_ACT_BAUD = 3, CIM_BL_ACT_START = 4 };

void cim_bl_init(const cim_bl_cfg_t *cfg);
/* One received byte; returns CIM_BL_ACT_*. For ACT_BAUD, cim_bl_new_baud() is the rate. */
int cim_bl_feed(uint8_t byte);
uint32_t cim_bl_new_baud(void);
/* Whether a valid bootloader command (opcode 0x40-0x5F) arrived since init: it keeps the bootloader. */
int cim_bl_synced(void);
/* The boot window (docs/bootloader.md): while on, only a bootloader command keeps the bootloader;
 * a console command (PING, INFO, ...) is answered ERR_BOOTING and cim_bl_feed returns
 * CIM_BL_ACT_START (start the application now, the host resends to it). */
void cim_bl_set_window(int on);

/* Boot decision: finish a pending install, check the primary slot (hash, signature), kill bad
 * model slots. Returns 1 when the application may be started at CIM_BL_APP_ENTRY. */
int cim_bl_boot_check(void);

/* Slot helpers shared with the host harness. */
uint32_t cim_bl_slot_offset(uint32_t slot);
uint32_t cim_bl_slot_size(uint32_t slot);
/* Which slot writes are allowed to touch right now (host harness checks): the upload target, or
 * 0xFF when no session is open. */
uint32_t cim_bl_session_slot(void);

/* ed25519 verify (cim_ed25519.c): 1 when sig is a valid signature of msg under pk. */
int cim_ed25519_verify(const uint8_t sig[64], const uint8_t *msg, uint32_t n, const uint8_t pk[32]);

#ifdef __cplusplus
}
#endif

#endif /* CIM_BL_H */
