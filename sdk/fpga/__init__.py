"""The FPGA coprocessor: the RTL in rtl/ built for Verilator (simulation, co-simulation with QEMU)
and for an iCE40 board (yosys, nextpnr, icepack). docs/fpga.md describes the hardware.
"""
