// Simulation model of the iCE40 UP5K's SB_SPRAM256KA (16K x 16 single-port RAM) for Verilator, as
// PicoSoC's ice40up5k_spram uses it: reads registered on CLOCK when CHIPSELECT and !WREN, writes per
// nibble by MASKWREN. STANDBY, SLEEP and POWEROFF are tied off by PicoSoC and not modelled.
// (yosys' ice40 cells_sim.v has one too, but it does not parse in Verilator.)
`default_nettype none
module SB_SPRAM256KA (
    input  wire [13:0] ADDRESS,
    input  wire [15:0] DATAIN,
    input  wire [3:0]  MASKWREN,
    input  wire        WREN, CHIPSELECT, CLOCK, STANDBY, SLEEP, POWEROFF,
    output reg  [15:0] DATAOUT
);
    reg [15:0] mem [0:16383];
    wire [15:0] mask = {{4{MASKWREN[3]}}, {4{MASKWREN[2]}}, {4{MASKWREN[1]}}, {4{MASKWREN[0]}}};
    always @(posedge CLOCK) begin
        if (CHIPSELECT) begin
            if (WREN) mem[ADDRESS] <= (mem[ADDRESS] & ~mask) | (DATAIN & mask);
            else DATAOUT <= mem[ADDRESS];
        end
    end
endmodule
`default_nettype wire
