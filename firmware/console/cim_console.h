/* The on-device console: command dispatch for the framed serial protocol
 * (docs/serial-protocol.md). Board specifics come in through cim_console_cfg_t, so the
 * console never names a board API and runs unchanged on QEMU, real boards and the host
 * test harness. No heap: the caller hands in the receive and image buffers. */
#ifndef CIM_CONSOLE_H
#define CIM_CONSOLE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    void (*putc)(uint8_t byte);     /* UART transmit, blocking */
    uint64_t (*cycles)(void);       /* mcycle */
    uint64_t (*instret)(void);      /* minstret */
    void (*marker)(int on);         /* power-profiling marker (GPIO / trace hook) */
    uint64_t (*cim_ops)(void);      /* macro operations issued by the HAL; NULL when unknown */
    uint64_t (*wait_insns)(void);   /* instructions spent waiting on the coprocessor; NULL when unknown */
    void (*reset)(void);            /* reboot the board after RESET is acknowledged; NULL: soft reset */
    int (*poll)(void);              /* UART receive without waiting: a byte or -1; lets the host stop a
                                     * RUN_MARKED between inferences. NULL: runs cannot be stopped early */
    const char *board;              /* board name, e.g. "qemu-virt-rv32" */
    const char *fw_version;
    const char *backend;            /* CiM HAL backend: "mailbox", "soft" */
    uint32_t arena_size;            /* activation arena reserved by the runtime */
    uint8_t *image_buf;             /* RAM buffer LOAD_IMAGE writes into */
    uint32_t image_cap;
    uint8_t *rx_buf;                /* frame receive buffer: CIM_MAX_FRAME bytes for full-size chunks */
    uint32_t rx_cap;
    /* Optional: an image already in memory at boot (--embed-image); loaded by cim_console_init. */
    const uint8_t *embedded_image;
    uint32_t embedded_size;
} cim_console_cfg_t;

/* Returns 0, or the runtime's error code when an embedded image was given and rejected. */
int cim_console_init(const cim_console_cfg_t *cfg);
/* Feed one received UART byte; replies are sent from inside this call. */
void cim_console_feed(uint8_t byte);
/* Whether an image is loaded and ready to run. */
int cim_console_image_loaded(void);

#ifdef __cplusplus
}
#endif

#endif /* CIM_CONSOLE_H */
