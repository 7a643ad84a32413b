/* Reset entry of the coprocessor's sequencer core (PicoRV32 in rtl/cim_coprocessor.v). */
    .section .text.start
    .globl _start
_start:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, __stack_top
    call seq_main
1:  j 1b
