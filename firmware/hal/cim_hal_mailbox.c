/* Mailbox backend of the CiM HAL (docs/mailbox.md): write the arguments, ring the doorbell with a
 * new sequence number, wait until DONE carries it, read STATUS and the results. The wait loop's
 * instructions are counted apart (minstret around it) so CPU work can be reported without them. */
#include "cim_hal.h"

#if defined(CIM_BACKEND_MAILBOX)

#include "board.h"

#ifndef CIM_HAL_ACCEPT_SPINS
/* Polls before giving up on a coprocessor that never accepts a command (it accepts within ~1 ms). */
#define CIM_HAL_ACCEPT_SPINS 200000000u
#endif
#ifndef CIM_HAL_ATTACH_SPINS
#define CIM_HAL_ATTACH_SPINS 50000000u
#endif

#define MB(off) (*(volatile uint32_t *)(uintptr_t)(CIM_MAILBOX_BASE + (off)))

static uint32_t seq;
static int seq_synced;
static uint64_t n_commands, n_ops, wait_instret, wait_cycles;

int cim_hal_mailbox_present(void) { return MB(CIM_MB_REG_MAGIC) == CIM_MB_MAGIC; }

static int wait_attached(void) {
    for (uint32_t i = 0; i < CIM_HAL_ATTACH_SPINS; i++) {
        if (cim_hal_mailbox_present()) return CIM_HAL_OK;
    }
    return CIM_HAL_ENODEV;
}

int cim_hal_mailbox_command(uint32_t command, const uint32_t *args, unsigned n_args, uint32_t *results,
                            unsigned n_results) {
    if (n_args > 8u || n_results > 4u) return CIM_HAL_EARG;
    if (!cim_hal_mailbox_present()) {
        int rc = wait_attached();
        if (rc != CIM_HAL_OK) return rc;
    }
    if (!seq_synced) {
        /* Continue the sequence a previous run left in the window (RAM survives a guest reset). */
        seq = MB(CIM_MB_REG_DOORBELL);
        seq_synced = 1;
    }
    for (unsigned i = 0; i < n_args; i++) MB(CIM_MB_REG_ARG0 + 4u * i) = args[i];
    MB(CIM_MB_REG_COMMAND) = command;
    uint32_t s = ++seq;
    __sync_synchronize(); /* arguments visible before the doorbell */

    uint64_t i0 = board_instret(), c0 = board_cycles();
    MB(CIM_MB_REG_DOORBELL) = s;
    int rc = CIM_HAL_OK;
    uint32_t spins = 0;
    while (MB(CIM_MB_REG_ACCEPTED) != s) {
        if (++spins == CIM_HAL_ACCEPT_SPINS) {
            rc = CIM_HAL_ETIMEOUT;
            break;
        }
    }
    if (rc == CIM_HAL_OK) {
        while (MB(CIM_MB_REG_DONE) != s) {
        }
    }
    uint64_t i1 = board_instret(), c1 = board_cycles();
    wait_instret += i1 - i0;
    wait_cycles += c1 - c0;
    if (rc != CIM_HAL_OK) return rc;
    __sync_synchronize(); /* results and output activations after DONE */

    n_commands++;
    uint32_t status = MB(CIM_MB_REG_STATUS);
    if (status != CIM_MB_OK) return -(int)(status > 99u ? 99u : status);
    for (unsigned i = 0; i < n_results; i++) results[i] = MB(CIM_MB_REG_RESULT0 + 4u * i);
    return CIM_HAL_OK;
}

int cim_hal_init(const uint8_t *image, uint32_t size) {
    if (image == 0 || size == 0u) return CIM_HAL_EARG;
    uint32_t args[2] = {(uint32_t)(uintptr_t)image, size};
    return cim_hal_mailbox_command(CIM_MB_CMD_LOAD_IMAGE, args, 2, 0, 0);
}

int cim_hal_run_op(uint32_t op_index, const int8_t *in, int8_t *out) {
    if (in == 0 || out == 0) return CIM_HAL_EARG;
    uint32_t args[3] = {op_index, (uint32_t)(uintptr_t)in, (uint32_t)(uintptr_t)out};
    int rc = cim_hal_mailbox_command(CIM_MB_CMD_RUN_OP, args, 3, 0, 0);
    if (rc == CIM_HAL_OK) n_ops++;
    return rc;
}

int cim_hal_mailbox_memcpy(const void *src, void *dst, uint32_t n, uint32_t *crc32) {
    uint32_t args[3] = {(uint32_t)(uintptr_t)src, (uint32_t)(uintptr_t)dst, n};
    uint32_t res[1] = {0};
    int rc = cim_hal_mailbox_command(CIM_MB_CMD_MEMCPY, args, 3, res, 1);
    if (rc == CIM_HAL_OK && crc32 != 0) *crc32 = res[0];
    return rc;
}

static uint64_t device_counter(unsigned slot) {
    uint32_t hi, lo;
    do {
        hi = MB(CIM_MB_REG_COUNTERS + 8u * slot + 4u);
        lo = MB(CIM_MB_REG_COUNTERS + 8u * slot);
    } while (hi != MB(CIM_MB_REG_COUNTERS + 8u * slot + 4u));
    return ((uint64_t)hi << 32) | lo;
}

void cim_hal_counters(cim_hal_counters_t *c) {
    for (unsigned i = 0; i < CIM_MB_COUNTER_COUNT; i++) c->device[i] = device_counter(i);
    c->commands = n_commands;
    c->ops = n_ops;
    c->macs = c->device[CIM_MB_CNT_MACS];
    c->adc_conversions = c->device[CIM_MB_CNT_ADC_CONVERSIONS];
    c->tile_ops = c->device[CIM_MB_CNT_TILE_OPS];
    c->wait_instret = wait_instret;
    c->wait_cycles = wait_cycles;
}

void cim_hal_reset_counters(void) {
    n_commands = n_ops = wait_instret = wait_cycles = 0;
    if (cim_hal_mailbox_present()) (void)cim_hal_mailbox_command(CIM_MB_CMD_RESET_COUNTERS, 0, 0, 0, 0);
}

const char *cim_hal_backend_name(void) { return "mailbox"; }

#endif /* CIM_BACKEND_MAILBOX */
