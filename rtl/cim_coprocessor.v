// The CiM coprocessor: the mailbox of docs/mailbox.md, a Wishbone bus master into the MCU's RAM,
// resident weight memory programmed from the weight image (docs/image-format.md), the bit-serial
// digital CiM array (cim_array) and the energy model's per-kind counters.
//
// The control is software: a small PicoRV32 (RV32I, from the same maintained package as the system's
// CPU) runs the sequencer program rtl/seq/cim_seq.c out of one block RAM (cim_seq_ram, generated at
// build time from the compiled program by cimsdk.fpga.seqfw). That block RAM also holds the mailbox
// registers: the MCU's Wishbone slave accesses go to the same RAM port (first), so the mailbox,
// counters and SCRATCH cost no flip-flops. What stays hardware is what the program cannot do fast:
// the array with its weight-column latch (ARR_GO: ROWS/WMB pipelined weight-memory reads, 8/IB
// bit-serial cycles), a 16 x 16 multiplier (one DSP) for requantization, the bus bridge and a cycle
// counter. LOAD_IMAGE, RUN_OP (window gather, tiles, accumulation, bias, TFLM requantization,
// write back), MEMCPY and the counters are the program's. docs/fpga.md has the block diagram.
//
// The sequencer core's memory map:
//   0xFFFF_0000  block RAM: mailbox registers (0x000-0x13F = the window's), program, data, stack
//   0xFFFF_F800  I/O: bus error, cycles, busy, weight memory, multiplier, array (rtl/seq/cim_io.h)
//   anything else: the MCU's bus, same address (Wishbone master; an error returns 0 and is latched)
`default_nettype none
module cim_coprocessor #(
    parameter TARGET_ID = 16,      // image header target_id this instance accepts (compiled into the program)
    parameter ROWS = 16,           // word lines per array
    parameter WCOLS = 8,           // int8 weight columns per array (bit lines / 8)
    parameter NARR = 256,          // arrays (macros x arrays_per_macro)
    parameter APM = 4,             // arrays per macro
    parameter PAR = 2,             // weight columns computed in parallel
    parameter IB = 1,              // input bits per cycle
    parameter QWORDS = 4096,       // quantization table words (3 per output channel)
    parameter WINMAX = 2048,       // im2col window bytes (kh * kw * cin)
    parameter NMAX = 512,          // output channels per op
    parameter TMAX = 512,          // tiles per matrix
    parameter WMB = 4,             // weight memory word bytes (4: two 16-bit SPRAMs; ROWS: a column per read)
    parameter SERIAL = 0,          // 1: the array one weight bit plane a cycle (cim_array_serial; IB = 1)
    parameter SCRATCH_WORDS = 16   // SCRATCH words implemented (the rest of the window reads 0)
) (
    input  wire        clk,
    input  wire        rst,
    // mailbox registers: Wishbone slave, byte address inside the window
    input  wire [15:0] s_adr,
    input  wire [31:0] s_dat_w,
    input  wire [3:0]  s_sel,
    input  wire        s_we,
    input  wire        s_cyc,
    input  wire        s_stb,
    output reg         s_ack,
    output reg  [31:0] s_dat_r,       // (combinational from the registered read)
    // bus master into the MCU's RAM: Wishbone classic, byte addresses of 32-bit words
    output reg  [31:0] m_adr,
    output wire [31:0] m_dat_w,       // the core's store data (held until the access ends)
    output reg  [3:0]  m_sel,
    output reg         m_we,
    output reg         m_cyc,
    output reg         m_stb,
    input  wire [31:0] m_dat_r,
    input  wire        m_ack,
    input  wire        m_err,
    output reg         busy
);
    localparam NSLICE = 8 / IB;
    localparam WPC = ROWS / WMB;                         // weight-memory words per column
    localparam WWORDS = NARR * WCOLS * WPC;
    localparam WORDS = WWORDS + QWORDS + 8 * TMAX;       // weights, quantization table, tile table
    localparam WAW = $clog2(WORDS);
    localparam LW = $clog2(WPC * PAR + 1);

    // ---- the sequencer core --------------------------------------------------------------------
    wire        c_valid, c_instr;
    wire [31:0] c_addr, c_wdata;
    wire [3:0]  c_wstrb;
    wire        c_la_read, c_la_write;                   // look-ahead: the next access, a cycle early
    wire [31:0] c_la_addr, c_la_wdata;
    wire [3:0]  c_la_wstrb;
    reg         q_ready;                                 // I/O and bus accesses: registered
    reg  [31:0] q_rdata;
    reg         r_ack;                                   // block RAM: data the cycle after the address
    reg         la_ack;                                  // block RAM, started from the look-ahead: no wait
    wire [31:0] r_q;
    wire        c_ready = q_ready | r_ack | la_ack;
    wire [31:0] c_rdata = (r_ack || la_ack) ? r_q : q_rdata;
    picorv32 #(
        .PROGADDR_RESET(32'hFFFF_0140),
        .ENABLE_COUNTERS(0), .ENABLE_COUNTERS64(0), .CATCH_MISALIGN(0), .CATCH_ILLINSN(0)
    ) core (
        .clk(clk), .resetn(!rst), .mem_valid(c_valid), .mem_instr(c_instr), .mem_ready(c_ready),
        .mem_addr(c_addr), .mem_wdata(c_wdata), .mem_wstrb(c_wstrb), .mem_rdata(c_rdata),
        .mem_la_read(c_la_read), .mem_la_write(c_la_write), .mem_la_addr(c_la_addr), .mem_la_wdata(c_la_wdata),
        .mem_la_wstrb(c_la_wstrb),
        .pcpi_wr(1'b0), .pcpi_rd(32'd0), .pcpi_wait(1'b0), .pcpi_ready(1'b0), .irq(32'd0)
    );
    wire sel_io  = c_addr[31:11] == 21'h1FFFFF;
    wire sel_ram = c_addr[31:16] == 16'hFFFF && !sel_io;
    wire sel_bus = !sel_ram && !sel_io;

    // ---- block RAM: program, data, mailbox; the slave port goes first ---------------------------
    wire        s_req = s_cyc && s_stb && !s_ack;
    // what the MCU may write: DOORBELL, COMMAND, ARG0-7, MARKER0-3, SCRATCH
    // (address bit patterns, not magnitude comparisons: no carry chains; SCRATCH_WORDS a power of two <= 64)
    localparam  SCW = $clog2(4 * SCRATCH_WORDS);
    wire        s_scr = s_adr[15:SCW] == (16'h100 >> SCW);
    wire        s_wok = s_adr == 16'h008 || s_adr == 16'h018 || s_adr[15:5] == 11'h001 || s_adr[15:4] == 12'h005 || s_scr;
    wire        s_in  = s_adr[15:8] == 8'h00 || s_scr;
    reg         s_src;                                   // 1: the RAM (MAGIC and VERSION are its initial words), 0: reads 0
    // The core's RAM accesses start from its look-ahead interface, the cycle before mem_valid, so the
    // data (or the write) is done when mem_valid rises: one clock an access instead of two. When the
    // slave port takes that cycle, the access runs the ordinary way (r_go) a cycle later.
    wire        la_ram = (c_la_read || c_la_write) && c_la_addr[31:16] == 16'hFFFF && c_la_addr[15:11] != 5'h1F;
    wire        la_go = la_ram && !s_req;
    wire        r_go = c_valid && sel_ram && !s_req && !r_ack && !c_ready;
    wire [13:0] r_addr = s_req ? s_adr[15:2] : la_go ? c_la_addr[15:2] : c_addr[15:2];
    wire [3:0]  r_we = s_req ? ((s_we && s_wok) ? s_sel : 4'd0) :
                       la_go ? (c_la_write ? c_la_wstrb : 4'd0) : (r_go ? c_wstrb : 4'd0);
    wire [31:0] r_din = s_req ? s_dat_w : la_go ? c_la_wdata : c_wdata;
    cim_seq_ram ram (.clk(clk), .addr(r_addr), .we(r_we), .din(r_din), .dout(r_q));
    always @* s_dat_r = s_src ? r_q : 32'd0;
    always @(posedge clk) begin
        s_ack <= s_req;
        r_ack <= r_go;
        la_ack <= la_go;
        if (s_req) s_src <= s_in;
    end

    // ---- I/O -------------------------------------------------------------------------------------
    reg         berr;                                    // a bus access got m_err (sticky; m_adr keeps its address)
    reg  [31:0] cycles;
    reg  [WAW-1:0]   w_addr;
    reg  [WMB-1:0]   w_we;
    reg  [8*WMB-1:0] w_din;
    wire [8*WMB-1:0] w_q;
    cim_wmem #(.WORDS(WORDS), .BYTES(WMB)) wmem (.clk(clk), .addr(w_addr), .we(w_we), .din(w_din), .dout(w_q));

    // the array and its column latch
    reg [8*ROWS-1:0]     rowin;
    reg [8*ROWS*PAR-1:0] wreg;
    reg                  arr_clear, arr_step;
    reg [6:0]            arr_slice;             // step: (slice, plane) for the serial array
    wire [32*PAR-1:0]    arr_sums;
    assign m_dat_w = c_wdata;
    localparam NSTEP = SERIAL ? 64 : NSLICE;            // array steps per matrix-vector product
    generate if (SERIAL) begin : serial
        cim_array_serial #(.ROWS(ROWS), .PAR(PAR)) array (
            .clk(clk), .clear(arr_clear), .step(arr_step), .slice(~arr_slice[5:3]), .plane(~arr_slice[2:0]), .x(rowin),
            .w(wreg), .sums(arr_sums));
    end else begin : parallel
        cim_array #(.ROWS(ROWS), .PAR(PAR), .IB(IB)) array (
            .clk(clk), .clear(arr_clear), .step(arr_step), .slice(arr_slice[3:0]), .x(rowin), .w(wreg),
            .sums(arr_sums));
    end endgenerate
    reg [2:0]     a_st;                                  // 0 idle, 1 latch, 2-3 wait, 4 compute
    reg [WAW-1:0] a_base;
    reg [7:0]     a_nv;                                  // columns of the group that hold weights
    reg [LW-1:0]  a_idx, wl_idx, wl_idx2;
    reg           wl_ok, wl_ok2, wl_zero, wl_zero2;
    reg [6:0]     a_k;

    wire [10:0] io = c_addr[10:0];
    wire io_go = c_valid && sel_io && !c_ready;
    wire io_wr = io_go && |c_wstrb;
    wire sum_rd = io[10:8] == 3'h2;
    reg         b_done;
    integer     rb;
    reg  [31:0] mul_p;                                   // the 16 x 16 product of the last MUL write (a DSP)
    always @(posedge clk) if (io_wr && io == 11'h020) mul_p <= c_wdata[31:16] * c_wdata[15:0];
    always @(posedge clk) begin
        q_ready <= 1'b0;
        w_we <= {WMB{1'b0}};
        arr_clear <= 1'b0; arr_step <= 1'b0;
        wl_ok <= 1'b0;
        wl_ok2 <= wl_ok; wl_idx2 <= wl_idx; wl_zero2 <= wl_zero;   // weight read latency: two stages
        if (wl_ok2) wreg[8*WMB*wl_idx2 +: 8*WMB] <= wl_zero2 ? {8*WMB{1'b0}} : w_q;
        cycles <= cycles + 1;
        if (s_req && s_we && s_adr == 16'h008) busy <= 1'b1;       // a doorbell: busy until the program clears it
        // the array: latch PAR columns (WPC words each), then 8/IB input slices
        case (a_st)
            3'd1: begin
                w_addr <= a_base; a_base <= a_base + 1'b1;
                wl_ok <= 1'b1; wl_idx <= a_idx; wl_zero <= (a_idx / WPC) >= a_nv;
                a_idx <= a_idx + 1'b1;
                if (a_idx == WPC * PAR - 1) a_st <= 3'd2;
            end
            3'd2: a_st <= 3'd3;
            3'd3: begin arr_clear <= 1'b1; a_k <= 0; a_st <= 3'd4; end
            3'd4: if (a_k == NSTEP) a_st <= 3'd0;
                  else begin arr_step <= 1'b1; arr_slice <= a_k; a_k <= a_k + 1'b1; end
            default: ;
        endcase
        if (io_go && !(sum_rd && a_st != 3'd0)) begin              // a sum waits for the array
            q_ready <= 1'b1;
            q_rdata <= 32'd0;
            if (io_wr) case (io)
                11'h000: berr <= 1'b0;
                11'h00C: busy <= 1'b0;
                11'h010: w_addr <= c_wdata[WAW-1:0];
                11'h014: begin w_din <= {WMB{c_wdata[7:0]}}; w_we <= {{(WMB-1){1'b0}}, 1'b1} << c_wdata[15:8]; end
                11'h018: begin w_din <= {(WMB/4){c_wdata}}; w_we <= {WMB{1'b0}} | 4'hf; end
                11'h02C: begin w_din <= {8*WMB{1'b0}}; w_we <= {WMB{1'b1}}; end
                11'h028: begin a_base <= c_wdata[WAW-1:0]; a_nv <= c_wdata[31:24]; a_idx <= 0; a_st <= 3'd1; end
                default: if (io[10:8] == 3'h1)                     // row inputs: words or single bytes
                    for (rb = 0; rb < 4; rb = rb + 1)
                        if (c_wstrb[rb]) rowin[32*io[7:2] + 8*rb +: 8] <= c_wdata[8*rb +: 8];
            endcase else case (io)
                11'h000: q_rdata <= {31'd0, berr};
                11'h004: q_rdata <= m_adr;
                11'h008: q_rdata <= cycles;
                11'h01C: q_rdata <= w_q[31:0];
                11'h030: begin q_rdata <= w_q[31:0]; w_addr <= w_addr + 1'b1; end
                11'h024: q_rdata <= mul_p;
                default: if (sum_rd) q_rdata <= arr_sums[32*io[7:2] +: 32];
            endcase
        end
        // the bus bridge: one Wishbone access per core access; after an error, none (reads return 0)
        // until the program clears BERR, so m_adr keeps the failing address for ERROR_DETAIL
        b_done <= 1'b0;
        if (c_valid && sel_bus && !m_cyc && !b_done && !c_ready && berr) begin
            q_ready <= 1'b1; q_rdata <= 32'd0; b_done <= 1'b1;
        end
        if (c_valid && sel_bus && !m_cyc && !b_done && !c_ready && !berr) begin
            m_adr <= {c_addr[31:2], 2'b00}; m_we <= |c_wstrb; m_sel <= |c_wstrb ? c_wstrb : 4'hf;
            m_cyc <= 1'b1; m_stb <= 1'b1;
        end
        if (m_cyc && (m_ack || m_err)) begin
            m_cyc <= 1'b0; m_stb <= 1'b0; b_done <= 1'b1;
            q_ready <= 1'b1; q_rdata <= m_err ? 32'd0 : m_dat_r;
            if (m_err) berr <= 1'b1;
        end
        if (rst) begin
            busy <= 1'b0; berr <= 1'b0; a_st <= 3'd0; m_cyc <= 1'b0; m_stb <= 1'b0; cycles <= 0;
        end
    end
endmodule

// Weight memory of the coprocessor: WORDS words of BYTES bytes, byte write enables, registered read.
// On an iCE40 UP5K (ICE40_SPRAM defined by the board's build; BYTES = 4, WORDS <= 16384) two
// SB_SPRAM256KA blocks side by side, each holding one 16-bit half; elsewhere an inferred memory
// (block RAM, or Verilator's array).
module cim_wmem #(
    parameter WORDS = 8192,
    parameter BYTES = 4
) (
    input  wire                      clk,
    input  wire [$clog2(WORDS)-1:0]  addr,
    input  wire [BYTES-1:0]          we,
    input  wire [8*BYTES-1:0]        din,
    output wire [8*BYTES-1:0]        dout
);
`ifdef ICE40_SPRAM
    wire [13:0] a14 = addr;                     // (cimsdk.fpga.flow checks BYTES = 4, WORDS <= 16384)
    SB_SPRAM256KA lo (.ADDRESS(a14), .DATAIN(din[15:0]), .MASKWREN({we[1], we[1], we[0], we[0]}),
                      .WREN(|we[1:0]), .CHIPSELECT(1'b1), .CLOCK(clk), .STANDBY(1'b0), .SLEEP(1'b0),
                      .POWEROFF(1'b1), .DATAOUT(dout[15:0]));
    SB_SPRAM256KA hi (.ADDRESS(a14), .DATAIN(din[31:16]), .MASKWREN({we[3], we[3], we[2], we[2]}),
                      .WREN(|we[3:2]), .CHIPSELECT(1'b1), .CLOCK(clk), .STANDBY(1'b0), .SLEEP(1'b0),
                      .POWEROFF(1'b1), .DATAOUT(dout[31:16]));
`else
    reg [8*BYTES-1:0] mem [0:WORDS-1];
    reg [8*BYTES-1:0] q;
    integer b;
    always @(posedge clk) begin
        for (b = 0; b < BYTES; b = b + 1)
            if (we[b]) mem[addr][8*b +: 8] <= din[8*b +: 8];
        q <= mem[addr];
    end
    assign dout = q;
`endif
endmodule
`default_nettype wire
