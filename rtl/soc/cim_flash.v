// SPI flash reader for the iCEBreaker system: 32-bit reads of the flash in place with the single-line
// READ command (0x03), SPI mode 0, one flash clock per two system clocks. Consecutive words continue
// the same READ (chip select stays low), so a sequential copy costs 64 clocks a word. Its interface
// is PicoSoC spimemio's (valid/ready/addr/rdata, the configuration register reads 0 and ignores
// writes), in about a third of spimemio's logic cells: the firmware runs from SPRAM and reads the
// flash only to copy its code at start, to check the weight image and for the coprocessor's
// LOAD_IMAGE, so quad and DDR reads would save little (docs/fpga.md).
//
// The chip must answer READ 0x03 on io0 (MOSI) / io1 (MISO); io2 (WP#) and io3 (HOLD#) are driven high.
`default_nettype none
module cim_flash (
    input  wire        clk,
    input  wire        resetn,
    input  wire        valid,
    output reg         ready,
    input  wire [23:0] addr,
    output wire [31:0] rdata,
    output reg         flash_csb,
    output reg         flash_clk,
    output wire        flash_mosi,
    input  wire        flash_miso
);
    reg  [31:0] sh;          // command and address out (MSB first), then the data in
    reg  [5:0]  left;        // bits still to shift in this phase
    reg         phase;       // 0: command and address, 1: data
    reg         busy;
    reg  [21:0] next;        // word address the open READ continues at
    assign flash_mosi = sh[31];
    // bytes arrive in address order, each MSB first
    assign rdata = {sh[7:0], sh[15:8], sh[23:16], sh[31:24]};

    always @(posedge clk) begin
        ready <= 1'b0;
        if (!resetn) begin
            flash_csb <= 1'b1; flash_clk <= 1'b0; busy <= 1'b0;
        end else if (!busy) begin
            if (valid && !ready) begin
                if (!flash_csb && addr[23:2] == next) begin          // continue the open READ
                    busy <= 1'b1; phase <= 1'b1; left <= 6'd32;
                end else if (!flash_csb) flash_csb <= 1'b1;          // end it first (one clock high)
                else begin
                    flash_csb <= 1'b0; busy <= 1'b1; phase <= 1'b0; left <= 6'd32;
                    sh <= {8'h03, addr[23:2], 2'b00};
                end
            end
        end else if (!flash_clk) flash_clk <= 1'b1;                  // the chip samples io0 on this edge
        else begin                                                   // and drives io1 after the falling one
            flash_clk <= 1'b0;
            sh <= {sh[30:0], flash_miso};
            left <= left - 1'b1;
            if (left == 6'd1) begin
                if (phase) begin
                    busy <= 1'b0; ready <= 1'b1; next <= addr[23:2] + 1'b1;
                end else begin
                    phase <= 1'b1; left <= 6'd32;
                end
            end
        end
    end
endmodule
`default_nettype wire
