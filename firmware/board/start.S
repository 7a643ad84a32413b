/* Start-up code shared by every board: absolute jump (flash may be aliased at 0), gp/sp/tp,
 * code that runs from RAM and .data copied from their load addresses, .bss zeroing, then main();
 * main's return value goes to board_exit(). Symbols come from firmware/board/cimsdk-sections.ld
 * (a board's linker script may place code in RAM: __ramtext_*). On a core without machine-mode trap
 * CSRs (BOARD_TRAP_CSRS 0: PicoRV32) there is nothing to set up: a trap halts it. */
#include "board_config.h"

#if defined(BOARD_XIP_SPIMEMIO)
/* PicoSoC's spimemio configuration word: quad I/O, continuous-read mode, dummy clocks (19:16). */
#define SPIMEMIO_QSPI 0x00200000
#define SPIMEMIO_CRM 0x00100000
#define SPIMEMIO_DUMMY_SHIFT 16
#define SPIMEMIO_MODE_MASK 0x007F0000
#endif

    .section .text.boot, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    /* Jump to the linked address: on parts that alias flash at 0 the reset PC is the alias. */
    lui t0, %hi(1f)
    addi t0, t0, %lo(1f)
    jr t0
1:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, __stack_top
#if BOARD_TRAP_CSRS
    .option push
    .option arch, +zicsr
    csrw mie, zero
    csrci mstatus, 8
    la t0, board_trap_entry
    csrw mtvec, t0
    .option pop
#endif

#if defined(BOARD_XIP_SPIMEMIO) && BOARD_XIP_QUAD
    /* The flash controller starts in single-line reads, 8 flash clocks a byte: switch it to quad
     * I/O reads in continuous-read mode before the loops below run in place. Writing the word
     * restarts its read sequence, safe from code in flash (the store completes before the next fetch). */
    li t0, BOARD_XIP_CONFIG
    lw t1, 0(t0)
    li t2, ~SPIMEMIO_MODE_MASK
    and t1, t1, t2
    li t2, SPIMEMIO_QSPI | SPIMEMIO_CRM | (BOARD_XIP_DUMMY << SPIMEMIO_DUMMY_SHIFT)
    or t1, t1, t2
    sw t1, 0(t0)
#endif

    /* Code linked to run from RAM, from its load address in flash (none on most boards). */
    la a0, __ramtext_start
    la a1, __ramtext_load
    la a2, __ramtext_end
    beq a0, a1, 9f
8:  bgeu a0, a2, 9f
    lw t0, 0(a1)
    sw t0, 0(a0)
    addi a0, a0, 4
    addi a1, a1, 4
    j 8b
9:

    /* .data (and .tdata) from flash to RAM, unless they were loaded in place. */
    la a0, __data_start
    la a1, __data_load
    la a2, __data_end
    beq a0, a1, 3f
2:  bgeu a0, a2, 3f
    lw t0, 0(a1)
    sw t0, 0(a0)
    addi a0, a0, 4
    addi a1, a1, 4
    j 2b
3:
    /* .tbss and .bss */
    la a0, __bss_start
    la a2, __bss_end
4:  bgeu a0, a2, 5f
    sw zero, 0(a0)
    addi a0, a0, 4
    j 4b
5:
    la tp, __tls_base
    call main
    call board_exit
6:  j 6b
    .size _start, . - _start

#if BOARD_TRAP_CSRS
/* Any trap is fatal in this firmware (no interrupts are enabled): report and stop. */
    .section .text.board_trap_entry, "ax", @progbits
    .balign 64
    .globl board_trap_entry
    .type board_trap_entry, @function
board_trap_entry:
    la sp, __stack_top
    .option push
    .option arch, +zicsr
    csrr a0, mcause
    csrr a1, mepc
    csrr a2, mtval
    .option pop
    call board_fatal_trap
7:  j 7b
    .size board_trap_entry, . - board_trap_entry
#endif
