// iCEBreaker (iCE40 UP5K) system: PicoRV32 soft core, 64 KiB SPRAM, SPI-flash execute-in-place,
// UART, a 64-bit timer and the CiM coprocessor. The core and the flash controller are PicoSoC's, used
// unmodified from the pythondata-cpu-picorv32 package; the UART (cim_uart.v) has simpleuart's
// registers and timing in a third of its logic cells; this file is the glue:
// the CPU's RAM (two of the four SPRAM blocks; the coprocessor's weight memory takes the other two),
// an address decoder and a two-master arbiter (CPU, coprocessor bus master) in front of it.
//
// Memory map (boards/icebreaker-cim/board.toml):
//   0x0000_0000  SPRAM, 64 KiB (data, stack, activations)
//   0x0010_0000  SPI flash, execute in place (firmware from 1 MiB, weight image after it)
//   0x0200_0000  flash controller configuration (spimemio)
//   0x0200_0004  UART clock divider, 0x0200_0008 UART data (simpleuart)
//   0x0200_0010  timer: cycles since reset, low word; 0x0200_0014 high word
//   0x0300_0000  CiM mailbox window (docs/mailbox.md), 64 KiB
`default_nettype none
module icebreaker_cim (
    input  wire clk,
    output wire ser_tx,
    input  wire ser_rx,
    output wire flash_csb,
    output wire flash_clk,
    inout  wire flash_io0,
    inout  wire flash_io1,
    inout  wire flash_io2,
    inout  wire flash_io3,
    output wire ledr_n,
    output wire ledg_n
);
    // power-on reset
    reg [5:0] reset_cnt = 0;
    wire resetn = &reset_cnt;
    always @(posedge clk) reset_cnt <= reset_cnt + {5'd0, !resetn};

    // ---- CPU --------------------------------------------------------------------------------
    wire        c_valid, c_instr;
    wire [31:0] c_addr, c_wdata;
    wire [3:0]  c_wstrb;
    reg         c_ready;
    wire [31:0] c_rdata;
    picorv32 #(
        .STACKADDR(32'h0001_0000), .PROGADDR_RESET(32'h0010_0000), .PROGADDR_IRQ(32'h0000_0000),
        .BARREL_SHIFTER(0), .COMPRESSED_ISA(0), .ENABLE_COUNTERS(1), .ENABLE_COUNTERS64(1),
        .ENABLE_MUL(0), .ENABLE_DIV(0), .ENABLE_IRQ(0), .CATCH_MISALIGN(0), .CATCH_ILLINSN(0)
    ) cpu (
        .clk(clk), .resetn(resetn), .mem_valid(c_valid), .mem_instr(c_instr), .mem_ready(c_ready),
        .mem_addr(c_addr), .mem_wdata(c_wdata), .mem_wstrb(c_wstrb), .mem_rdata(c_rdata),
        .irq(32'd0)
    );

    // ---- coprocessor ------------------------------------------------------------------------
    wire [31:0] m_adr, m_dat_w;
    wire [3:0]  m_sel;
    wire        m_we, m_cyc, m_stb;
    reg         m_ack, m_err;
    wire [31:0] m_dat_r;
    reg  [15:0] s_adr;
    reg  [31:0] s_dat_w;
    reg         s_we, s_stb;
    wire        s_ack;
    wire [31:0] s_dat_r;
    wire        cop_busy;
    cim_coprocessor cop (
        .clk(clk), .rst(!resetn),
        .s_adr(s_adr), .s_dat_w(s_dat_w), .s_sel(4'hf), .s_we(s_we), .s_cyc(s_stb), .s_stb(s_stb),
        .s_ack(s_ack), .s_dat_r(s_dat_r),
        .m_adr(m_adr), .m_dat_w(m_dat_w), .m_sel(m_sel), .m_we(m_we), .m_cyc(m_cyc), .m_stb(m_stb),
        .m_dat_r(m_dat_r), .m_ack(m_ack), .m_err(m_err), .busy(cop_busy)
    );
    assign ledg_n = !cop_busy;
    assign ledr_n = 1'b1;

    // ---- arbiter: one master owns the shared bus until its access completes ------------------
    reg        owner_cop, active;
    wire       want_cpu = c_valid && !(c_ready);
    wire       want_cop = m_cyc && m_stb && !(m_ack || m_err);
    wire       grant_cop = active ? owner_cop : (want_cop);   // the coprocessor first: the CPU only polls
    wire       b_valid = active && (owner_cop ? want_cop : want_cpu);
    wire [31:0] b_addr = owner_cop ? m_adr : c_addr;
    wire [31:0] b_wdata = owner_cop ? m_dat_w : c_wdata;
    wire [3:0]  b_wstrb = owner_cop ? (m_we ? m_sel : 4'b0) : c_wstrb;
    reg         b_ready, b_error;
    reg  [31:0] b_rdata;

    // ---- slaves --------------------------------------------------------------------------------
    // (bit patterns rather than magnitude comparisons: no carry chains)
    wire sel_ram   = b_addr[31:16] == 16'h0000;
    wire sel_flash = b_addr[31:24] == 8'h00 && b_addr[23:20] != 4'h0;
    wire sel_io    = b_addr[31:5] == 27'h010_0000 && b_addr[1:0] == 2'b00;   // 0x0200_0000 - 0x0200_001F
    wire sel_cfg   = sel_io && b_addr[4:2] == 3'd0;
    wire sel_div   = sel_io && b_addr[4:2] == 3'd1;
    wire sel_dat   = sel_io && b_addr[4:2] == 3'd2;
    wire sel_tlo   = sel_io && b_addr[4:2] == 3'd4;
    wire sel_thi   = sel_io && b_addr[4:2] == 3'd5;
    wire sel_mb    = b_addr[31:16] == 16'h0300;

    reg ram_done;
    wire [31:0] ram_rdata;
    // 64 KiB: two SB_SPRAM256KA side by side (16K x 32 bits), data one cycle after the address
    wire [3:0] ram_wen = (b_valid && sel_ram && !ram_done) ? b_wstrb : 4'b0;
    SB_SPRAM256KA ram_lo (
        .ADDRESS(b_addr[15:2]), .DATAIN(b_wdata[15:0]), .MASKWREN({ram_wen[1], ram_wen[1], ram_wen[0], ram_wen[0]}),
        .WREN(|ram_wen[1:0]), .CHIPSELECT(1'b1), .CLOCK(clk), .STANDBY(1'b0), .SLEEP(1'b0), .POWEROFF(1'b1),
        .DATAOUT(ram_rdata[15:0]));
    SB_SPRAM256KA ram_hi (
        .ADDRESS(b_addr[15:2]), .DATAIN(b_wdata[31:16]), .MASKWREN({ram_wen[3], ram_wen[3], ram_wen[2], ram_wen[2]}),
        .WREN(|ram_wen[3:2]), .CHIPSELECT(1'b1), .CLOCK(clk), .STANDBY(1'b0), .SLEEP(1'b0), .POWEROFF(1'b1),
        .DATAOUT(ram_rdata[31:16]));

    wire flash_ready, flash_mosi;
    wire [31:0] flash_rdata;
    cim_flash flash (
        .clk(clk), .resetn(resetn), .valid(b_valid && sel_flash), .ready(flash_ready),
        .addr(b_addr[23:0]), .rdata(flash_rdata),
        .flash_csb(flash_csb), .flash_clk(flash_clk), .flash_mosi(flash_mosi), .flash_miso(flash_io1));
    assign flash_io0 = flash_mosi;
    assign flash_io1 = 1'bz;
    assign flash_io2 = 1'b1;                                  // WP# and HOLD# high: single-line SPI
    assign flash_io3 = 1'b1;

    wire [31:0] div_do, dat_do;
    wire dat_wait;
    cim_uart uart (
        .clk(clk), .resetn(resetn), .ser_tx(ser_tx), .ser_rx(ser_rx),
        .reg_div_we((b_valid && sel_div) ? b_wstrb : 4'b0), .reg_div_di(b_wdata), .reg_div_do(div_do),
        .reg_dat_we(b_valid && sel_dat && b_wstrb[0]), .reg_dat_re(b_valid && sel_dat && !b_wstrb),
        .reg_dat_di(b_wdata), .reg_dat_do(dat_do), .reg_dat_wait(dat_wait));

    reg [63:0] timer;
    always @(posedge clk) timer <= resetn ? timer + 64'd1 : 64'd0;

    // mailbox: the shared bus drives the coprocessor's Wishbone slave
    always @* begin
        s_adr = b_addr[15:0]; s_dat_w = b_wdata; s_we = |b_wstrb; s_stb = b_valid && sel_mb;
    end

    always @* begin
        b_ready = 1'b0; b_error = 1'b0; b_rdata = 32'd0;
        if (b_valid) begin
            if (sel_ram) begin b_ready = ram_done; b_rdata = ram_rdata; end
            else if (sel_flash) begin b_ready = flash_ready; b_rdata = flash_rdata; end
            else if (sel_cfg) begin b_ready = 1'b1; b_rdata = 32'd0; end   // (spimemio's configuration: none)
            else if (sel_div) begin b_ready = 1'b1; b_rdata = div_do; end
            else if (sel_dat) begin b_ready = !dat_wait; b_rdata = dat_do; end
            else if (sel_tlo) begin b_ready = 1'b1; b_rdata = timer[31:0]; end
            else if (sel_thi) begin b_ready = 1'b1; b_rdata = timer[63:32]; end
            else if (sel_mb) begin b_ready = s_ack; b_rdata = s_dat_r; end
            else begin b_ready = 1'b1; b_error = 1'b1; end
        end
    end

    reg [31:0] rdata;                                        // the read data, for whichever master got it
    assign c_rdata = rdata;
    assign m_dat_r = rdata;
    always @(posedge clk) begin
        ram_done <= b_valid && sel_ram && !ram_done;         // SPRAM: data one cycle after the address
        c_ready <= 1'b0; m_ack <= 1'b0; m_err <= 1'b0;
        if (!resetn) begin
            active <= 1'b0; owner_cop <= 1'b0;
        end else if (!active) begin
            if (want_cop || want_cpu) begin active <= 1'b1; owner_cop <= grant_cop; end
        end else if (b_ready || !(owner_cop ? want_cop : want_cpu)) begin
            active <= 1'b0;
            if (b_valid && b_ready) begin
                rdata <= b_rdata;
                if (owner_cop) begin m_ack <= !b_error; m_err <= b_error; end
                else c_ready <= 1'b1;
            end
        end
    end
endmodule
`default_nettype wire
