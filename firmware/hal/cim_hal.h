/* CiM hardware abstraction: how the runtime hands a CiM layer to the macro.
 *
 * Two backends, chosen at build time:
 *   CIM_BACKEND_MAILBOX  descriptors in a shared-RAM window, a doorbell and a status word
 *                        (docs/mailbox.md): the same driver an FPGA or ASIC coprocessor uses;
 *                        on qemu-virt-rv32 the emulated coprocessor process answers it.
 *   CIM_BACKEND_SOFT     the macro emulated in C on the MCU (cim_soft_run_op, firmware/kernels).
 * Functions return 0 or a negative CIM_HAL_E* code. */
#ifndef CIM_HAL_H
#define CIM_HAL_H

#include <stdint.h>

#include "cim_mailbox.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CIM_BACKEND_MAILBOX) + defined(CIM_BACKEND_SOFT) != 1
#error "define exactly one of CIM_BACKEND_MAILBOX, CIM_BACKEND_SOFT"
#endif

#define CIM_HAL_OK 0
/* -1 .. -99: the coprocessor's STATUS code, negated (CIM_MB_ERR_*). */
#define CIM_HAL_ENODEV (-100)   /* no coprocessor answers (mailbox MAGIC missing) */
#define CIM_HAL_ETIMEOUT (-101) /* the coprocessor did not accept a command */
#define CIM_HAL_EARG (-102)     /* bad argument (NULL pointer, size 0) */

typedef struct {
    uint64_t commands;          /* mailbox commands completed (soft: CiM ops run) */
    uint64_t ops;               /* CiM ops run */
    uint64_t macs;              /* multiply-accumulates in the arrays (mailbox: counted by the device) */
    uint64_t adc_conversions;
    uint64_t tile_ops;
    uint64_t wait_instret;      /* CPU instructions spent waiting for the coprocessor */
    uint64_t wait_cycles;       /* CPU cycles spent waiting for the coprocessor */
    uint64_t device[CIM_MB_COUNTER_COUNT]; /* raw device counter slots (CIM_MB_CNT_*); soft: zeros */
} cim_hal_counters_t;

/* Make the image's weights resident (mailbox: LOAD_IMAGE; soft: nothing to do). */
int cim_hal_init(const uint8_t *image, uint32_t size);

/* Run CiM op `op_index` of the image's layer program: int8 input activations in, int8 outputs out
 * (shapes from the image). */
int cim_hal_run_op(uint32_t op_index, const int8_t *in, int8_t *out);

void cim_hal_counters(cim_hal_counters_t *c);
void cim_hal_reset_counters(void);
const char *cim_hal_backend_name(void);

#if defined(CIM_BACKEND_SOFT)
/* Provided by the runtime (firmware/kernels): the macro emulated in C. */
int cim_soft_run_op(uint32_t op_index, const int8_t *in, int8_t *out);
#endif

#if defined(CIM_BACKEND_MAILBOX)
/* Post any mailbox command and wait for it (args/results may be NULL when n is 0). */
int cim_hal_mailbox_command(uint32_t command, const uint32_t *args, unsigned n_args, uint32_t *results,
                            unsigned n_results);
/* Diagnostic MEMCPY: the coprocessor copies n bytes src -> dst and returns their CRC-32. */
int cim_hal_mailbox_memcpy(const void *src, void *dst, uint32_t n, uint32_t *crc32);
/* 1 when a coprocessor has attached (MAGIC present). */
int cim_hal_mailbox_present(void);
#endif

#ifdef __cplusplus
}
#endif

#endif /* CIM_HAL_H */
