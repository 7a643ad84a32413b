/* Start-up code shared by every board: absolute jump (flash may be aliased at 0), gp/sp/tp,
 * .data copy from its load address, .bss zeroing, then main(); main's return value goes to
 * board_exit(). Symbols come from firmware/board/cimsdk-sections.ld. */

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
    .option push
    .option arch, +zicsr
    csrw mie, zero
    csrci mstatus, 8
    la t0, board_trap_entry
    csrw mtvec, t0
    .option pop

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
