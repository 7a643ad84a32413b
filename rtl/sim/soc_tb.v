// Simulation top of the whole iCEBreaker system (rtl/soc/icebreaker_cim.v) for rtl/sim/soc_main.cpp:
// the SPI flash's data lines come out as separate in/out/enable signals (the C++ host models the
// flash chip), the UART pins go to the host's TCP bridge, and a few internal signals the host reads
// (the UART's clock divider, the CPU's trap line, its PC for a trap report) are brought out here.
`default_nettype none
module soc_tb (
    input  wire        clk,
    output wire        ser_tx,
    input  wire        ser_rx,
    output wire        flash_csb,
    output wire        flash_clk,
    output wire [3:0]  flash_io_in,    // the lines as the flash chip sees them
    input  wire [3:0]  flash_io_out,   // what the flash chip drives ...
    input  wire [3:0]  flash_io_oe,    // ... on the lines it enables
    output wire [31:0] uart_divider,
    output wire        uart_rx_full,   // a received byte the firmware has not read yet
    output wire        cpu_trap,
    output wire [31:0] cpu_pc,
    output wire        cop_busy
);
    wire io0, io1, io2, io3;
    wire ledr_n, ledg_n;
    icebreaker_cim dut (
        .clk(clk), .ser_tx(ser_tx), .ser_rx(ser_rx),
        .flash_csb(flash_csb), .flash_clk(flash_clk),
        .flash_io0(io0), .flash_io1(io1), .flash_io2(io2), .flash_io3(io3),
        .ledr_n(ledr_n), .ledg_n(ledg_n));
    assign io0 = flash_io_oe[0] ? flash_io_out[0] : 1'bz;
    assign io1 = flash_io_oe[1] ? flash_io_out[1] : 1'bz;
    assign io2 = flash_io_oe[2] ? flash_io_out[2] : 1'bz;
    assign io3 = flash_io_oe[3] ? flash_io_out[3] : 1'bz;
    assign flash_io_in = {io3, io2, io1, io0};
    assign uart_divider = {16'd0, dut.uart.cfg_divider};
    assign uart_rx_full = dut.uart.recv_buf_valid;
    assign cpu_trap = dut.cpu.trap;
    assign cpu_pc = dut.cpu.reg_pc;
    assign cop_busy = !ledg_n;
endmodule
`default_nettype wire
