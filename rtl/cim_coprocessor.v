// The CiM coprocessor: the mailbox of docs/mailbox.md as a Wishbone slave register file, a Wishbone
// bus master into the MCU's RAM, resident weight memory programmed from the weight image
// (docs/image-format.md), the bit-serial digital CiM array (cim_array), the digital periphery
// (accumulation across row tiles, bias, TFLM requantization, activation clamp) and the energy
// model's per-kind counters.
//
// One sequencer executes the mailbox commands. LOAD_IMAGE parses the image in place (header, section
// table, matrices, tiles), clears the weight memory, writes every tile's weights at the array, row
// and column the converter placed them, and copies the quantization table. RUN_OP walks the layer
// program to the op, reads its tensors and parameters, and for every output position gathers the
// im2col window (padding = input zero point), runs every tile of the matrix through the array
// (PAR columns at a time, 8/IB input cycles), accumulates partial sums, then requantizes and writes
// the int8 outputs back. docs/fpga.md has the block diagram and the cycle budget.
`default_nettype none
module cim_coprocessor #(
    parameter TARGET_ID = 16,      // image header target_id this instance accepts
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
    output reg  [31:0] m_dat_w,
    output reg  [3:0]  m_sel,
    output reg         m_we,
    output reg         m_cyc,
    output reg         m_stb,
    input  wire [31:0] m_dat_r,
    input  wire        m_ack,
    input  wire        m_err,
    output wire        busy
);
    // ---- mailbox constants (sdk/emulator/mailbox_map.py) -------------------------------------
    localparam [31:0] MB_MAGIC = 32'h424D4943, MB_VERSION = 32'd1;
    localparam CMD_NOP = 0, CMD_MEMCPY = 1, CMD_LOAD_IMAGE = 2, CMD_RUN_OP = 3, CMD_RESET_COUNTERS = 4;
    localparam ERR_UNKNOWN_COMMAND = 1, ERR_BAD_ADDRESS = 2, ERR_NO_IMAGE = 3, ERR_BAD_IMAGE = 4,
               ERR_BAD_OP = 5;
    localparam C_COMMANDS = 0, C_OPS = 1, C_MACS = 2, C_ADC = 3, C_PULSES = 4, C_TILE_OPS = 5,
               C_DIGITAL = 6, C_WEIGHT_BYTES = 7, C_INPUT_BYTES = 8, C_OUTPUT_BYTES = 9;
    localparam NSLICE = 8 / IB;     // input cycles per matrix-vector product
    localparam RW = (ROWS > 1) ? $clog2(ROWS) : 1;   // row index bits
    localparam PW = (PAR > 1) ? $clog2(PAR) : 1;     // column-in-pass index bits

    // ---- registers -------------------------------------------------------------------------
    reg [31:0] doorbell, accepted, done, status, command, detail;
    reg [31:0] args [0:7];
    reg [31:0] results [0:3];
    reg [31:0] marker [0:3];
    reg [31:0] heartbeat;
    // The 64-bit counters live in a block RAM; a command accumulates its counts in the d_* registers and
    // adds them to the counters (one read-modify-write per slot, S_CF) before it sets DONE.
    localparam NCNT = 10;            // counter slots implemented (C_COMMANDS .. C_OUTPUT_BYTES); the rest read 0
    reg [63:0] counters [0:15];
    reg [63:0] cnt_q;
    reg [3:0]  fc;                   // slot being flushed or cleared
    reg [39:0] d_macs, d_pulses, d_digital;
    reg [31:0] d_tiles, d_wbytes;
    reg        d_op;                 // the op ran to the end: OPS, INPUT_BYTES, OUTPUT_BYTES
    integer qi;
    initial for (qi = 0; qi < 16; qi = qi + 1) counters[qi] = 64'd0;
    reg [31:0] scratch [0:SCRATCH_WORDS-1];
    reg [7:0]  hb_div;

    // ---- memories ---------------------------------------------------------------------------
    localparam WDEPTH = NARR * WCOLS;
    reg [7:0]  winbuf [0:WINMAX-1];          // im2col window of one output position
    reg signed [31:0] accmem [0:NMAX-1];     // partial sums of one output position
    // tile table of the running op, one 16-bit field each: array, row0, col0, k0, k_len, n0, n_len,
    // for depthwise the first input channel and depth-multiplier phase (n0 / dm, n0 % dm), k_len x n_len
    reg [159:0] ttab [0:TMAX-1];
    reg [159:0] tt_q;
    reg [31:0]  tt_raddr;

    // weight memory: WMB-byte words, byte-writable, one cycle read latency (cim_wmem; WMB = 4 on the
    // UP5K: two 16-bit SPRAM blocks side by side); the quantization table (bias, multiplier, shift per output
    // channel, the image's quant section) follows the weights, from word WWORDS. Column c (= array * WCOLS + column) holds its ROWS weights in
    // words c * ROWS/4 ... + ROWS/4 - 1, row r in byte r % 4 of word r / 4; a column is latched into the
    // array's weight registers in ROWS/4 reads.
    localparam WPC = ROWS / WMB;                 // words per column
    localparam WWORDS = WDEPTH * WPC;
    localparam WAW = $clog2(WWORDS + QWORDS);    // the quantization table (QWORDS) sits above the weights
    reg  [WAW-1:0]  w_addr;
    reg  [WMB-1:0]   w_we;
    reg  [8*WMB-1:0] w_din;
    wire [8*WMB-1:0] w_q;
    cim_wmem #(.WORDS(WWORDS + QWORDS), .BYTES(WMB)) wmem (.clk(clk), .addr(w_addr), .we(w_we), .din(w_din), .dout(w_q));
    reg  [WAW-1:0]  wl_base;                     // the column being latched
    reg  [$clog2(WPC*PAR+1)-1:0] wl_idx, wl_idx2; // its word in the array's weight registers
    reg             wl_ok, wl_ok2, wl_zero, wl_zero2;
    reg  [7:0]      h;                          // word of the column (WPC <= 256)

    // ---- the array and the requantizer -------------------------------------------------------
    reg [8*ROWS-1:0]     rowin;
    reg [8*ROWS*PAR-1:0] wreg;
    reg                  arr_clear, arr_step;
    reg [3:0]            arr_slice;
    wire [32*PAR-1:0]    arr_sums;
    cim_array #(.ROWS(ROWS), .PAR(PAR), .IB(IB)) array (
        .clk(clk), .clear(arr_clear), .step(arr_step), .slice(arr_slice), .x(rowin), .w(wreg),
        .sums(arr_sums));

    reg signed [31:0] rq_acc, rq_mult, rq_shift;
    reg signed [31:0] out_zp, act_min, act_max, in_zp;
    wire signed [7:0] rq_y;
    cim_requant requant (.acc(rq_acc), .mult(rq_mult), .shift(rq_shift), .out_zp(out_zp),
                         .act_min(act_min), .act_max(act_max), .y(rq_y));

    // ---- sequencer state ---------------------------------------------------------------------
    localparam
        S_IDLE = 0, S_BUS = 1, S_FINISH = 2, S_FAIL = 3, S_RD = 4,
        S_MC = 10, S_MC_W = 11, S_MC_N = 12,
        S_L0 = 20, S_L1 = 21, S_L2 = 22, S_L3 = 23, S_L4 = 24, S_L5 = 25, S_L6 = 26, S_L7 = 27,
        S_L8 = 28, S_L9 = 29, S_L10 = 30, S_L11 = 31, S_L12 = 32, S_L13 = 33,
        S_LCLR = 34, S_LQ = 35, S_LQ2 = 36, S_LM = 37, S_LM1 = 38, S_LM2 = 39, S_LM3 = 40, S_LM4 = 41,
        S_LM5 = 42, S_LT = 43, S_LT1 = 44, S_LT2 = 45, S_LT3 = 46, S_LT4 = 47, S_LT5 = 48, S_LT6 = 49,
        S_LT7 = 50, S_LW = 51, S_LW2 = 52, S_LCNT = 53, S_LCNT2 = 54, S_LCNT3 = 55,
        S_R0 = 60, S_R1 = 61, S_R1B = 62, S_R2 = 63, S_R2B = 64, S_R2C = 65, S_R3 = 66, S_R3B = 67,
        S_R3C = 68, S_R4 = 69, S_R4B = 70, S_R5 = 71, S_R5B = 72, S_R6 = 73, S_R7 = 74, S_R7B = 75,
        S_R7C = 76, S_R7D = 77, S_R7E = 78, S_R7F = 79, S_R7G = 80, S_R8 = 81, S_R8B = 82, S_R8C = 83,
        S_R8D = 84, S_R8E = 85, S_R8F = 86, S_R8G = 87, S_R9 = 88, S_RT = 89, S_RT1 = 90, S_RT2 = 91,
        S_RT3 = 92, S_RT4 = 93, S_RT5 = 94, S_RT6 = 95, S_RT7 = 96, S_RT8 = 97, S_RT9 = 98,
        S_P0 = 100, S_PG = 101, S_PG2 = 102, S_PG3 = 103, S_PC = 104, S_PT = 105, S_PF = 106,
        S_PF2 = 107, S_PW = 108, S_PW2 = 109, S_PA = 110, S_PA2 = 111, S_PS = 112, S_PACC = 113,
        S_PACC2 = 114, S_PN = 115, S_PQ = 116, S_PQ2 = 117, S_PQ3 = 118, S_PQ4 = 119, S_PQ5 = 120,
        S_PQ6 = 121, S_PNEXT = 122, S_RDONE = 123, S_PT2 = 124, S_PT3 = 125,
        S_MUL = 130, S_M0 = 131, S_M1 = 132, S_M2 = 133, S_M3 = 134, S_M4 = 135, S_M5 = 136, S_M6 = 137,
        S_M7 = 138, S_M8 = 139, S_M9 = 140, S_M10 = 141, S_LT8 = 142, S_LT9 = 143, S_RT7B = 144,
        S_PA2W = 145, S_CF = 146, S_CF2 = 147, S_CCLR = 148;
    reg [7:0] state, ret;
    reg [31:0] seq, cycles;

    // bus helper: one Wishbone access, a one-word read cache (invalidated by writes and per command)
    reg [31:0] rdata, cache_adr, cache_dat;
    reg        cache_ok;
    reg [1:0]  rbyte;
    wire [7:0] rdata_byte = rdata >> (8 * rbyte);
    wire [15:0] rdata_half = rbyte[1] ? rdata[31:16] : rdata[15:0];

    // (the cache is checked in S_RD, one comparator for every call site, not in each calling state)
    task bus_read(input [31:0] addr, input [7:0] next);
        begin
            rbyte <= addr[1:0];
            m_adr <= {addr[31:2], 2'b00}; m_we <= 1'b0; m_sel <= 4'hf;
            ret <= next; state <= S_RD;
        end
    endtask

    // the next field of a record: `step` bytes after the word read last (one shared adder)
    task bus_next(input [3:0] step, input [7:0] next);
        begin
            rbyte <= 2'd0;
            m_adr <= m_adr + step; m_we <= 1'b0; m_sel <= 4'hf;
            ret <= next; state <= S_RD;
        end
    endtask

    task bus_write_byte(input [31:0] addr, input [7:0] value, input [7:0] next);
        begin
            m_adr <= {addr[31:2], 2'b00}; m_we <= 1'b1; m_sel <= 4'b0001 << addr[1:0];
            m_dat_w <= {4{value}};
            m_cyc <= 1'b1; m_stb <= 1'b1;
            if (cache_adr == {addr[31:2], 2'b00}) cache_ok <= 1'b0;
            ret <= next; state <= S_BUS;
        end
    endtask

    // shared shift-add multiplier for the once-per-op and once-per-tile products (low 32 bits, so
    // two's complement operands work too); the per-position address arithmetic is incremental
    reg [31:0] mul_a, mul_b, mul_p;
    reg [7:0]  mret;
    task start_mul(input [31:0] a, input [31:0] b, input [7:0] next);
        begin
            mul_a <= a; mul_b <= b; mul_p <= 32'd0; mret <= next; state <= S_MUL;
        end
    endtask

    task fail(input [31:0] code, input [31:0] why);
        begin
            status <= code; detail <= why; state <= S_FINISH;
        end
    endtask

    // ---- command and image state -------------------------------------------------------------
    // Shape and loop registers are 16 bits (tensor dimensions, kernel, strides, padding, channels and
    // indices below 65536, as every image the converter writes has); addresses, byte offsets, products
    // and the fields LOAD_IMAGE range-checks stay 32 bits.
    reg [31:0] i, j, k;
    reg [15:0] n, g0;
    reg [31:0] crc;
    reg        loaded, was_loaded, tr_run;
    reg [31:0] img_addr, img_size, img_digest, nsec, tbl, sid, soff;
    reg [15:0] nops, ncim;
    reg [31:0] sec_tensors, sec_prog, sec_mats, sec_tiles, sec_cells, sec_quant, msize, qsize;
    reg [31:0] pos, mi, m_kind, m_k, m_n, m_coff, m_qoff, m_t0, m_nt, ti, colbase, rowbase;
    reg [31:0] tl_k0, tl_klen, tl_n0, tl_nlen;
    reg [15:0] tl_arr, tl_row0, tl_col0, tl_macro;
    // op
    reg [31:0] tidpos, parpos, in_bytes, out_ptr;
    reg [15:0] op_code, act_t, out_t;
    reg [7:0]  op_nin, op_nout, op_npar, op_flags, nact;
    reg [15:0] sh, sw, dh, dw, pt, pl, kh, kw, dm;
    reg [15:0] in_h, in_w, in_c, out_h, out_w, o_y, o_x;
    reg [15:0] ky, kx, c, widx, cch, dmr, kaddr, prow;
    reg [31:0] tap_addr;
    reg [31:0] winlen, rowstride, sh_rs, dh_rs, sw_c, dw_c, pt_rs, pl_c, tl_ext, tl_prod;
    reg [31:0] ybase, xbase, ytap, xtap;
    reg signed [31:0] by, bx, ty, tx;                  // output position's window origin, tap offset
    reg        tap_in;
    reg [31:0] out_total;
    // pipelined reads of the window buffer and the accumulators
    reg [31:0] wb_raddr;
    reg [7:0]  wb_q;
    reg [31:0] pend_row, pend_row2;
    reg        pend_ok, pend_ok2;
    reg [31:0] acc_raddr;
    reg signed [31:0] acc_q;

    always @(posedge clk) begin
        wb_q <= winbuf[wb_raddr[$clog2(WINMAX)-1:0]];
        acc_q <= accmem[acc_raddr[$clog2(NMAX)-1:0]];
        tt_q <= ttab[tt_raddr[$clog2(TMAX)-1:0]];
    end

    wire dwise = (m_kind == 1);
    wire [RW-1:0] row_sel = rowbase[RW-1:0] + k[RW-1:0];   // word line of the weight being loaded
    wire [PW-1:0] jp = j[PW-1:0];                          // column within the pass
    wire [31:0] g_addr = tap_addr + c;                       // window byte being gathered
    wire signed [31:0] iy = by + ty;
    wire signed [31:0] ix = bx + tx;

    assign busy = (state != S_IDLE);

    // ---- mailbox slave ------------------------------------------------------------------------
    wire [13:0] s_word = s_adr[15:2];
    wire [13:0] s_scr = s_word - 14'h40;                // SCRATCH word index
    reg  [31:0] s_reg_q, scr_q;                          // register read, SCRATCH read (block RAM)
    reg         s_scr_q, s_cnt_q, s_cnt_hi;
    wire        s_cnt_rd = s_cyc && s_stb && !s_ack && s_adr >= 16'h080 && s_adr < 16'h100 && s_adr[6:3] < NCNT;
    always @* s_dat_r = s_scr_q ? scr_q : s_cnt_q ? (s_cnt_hi ? cnt_q[63:32] : cnt_q[31:0]) : s_reg_q;
    always @(posedge clk) cnt_q <= counters[s_cnt_rd ? s_adr[6:3] : fc];
    always @(posedge clk) scr_q <= scratch[s_scr[$clog2(SCRATCH_WORDS)-1:0]];
    always @(posedge clk) begin
        s_ack <= 1'b0;
        if (s_cyc && s_stb && !s_ack) begin
            s_ack <= 1'b1;
            s_reg_q <= 32'd0;
            s_scr_q <= s_adr >= 16'h100 && s_scr < SCRATCH_WORDS;
            s_cnt_q <= s_cnt_rd; s_cnt_hi <= s_adr[2];
            if (s_adr >= 16'h080 && s_adr < 16'h100) s_reg_q <= 32'd0;      // (implemented slots: cnt_q)
            else case (s_adr)
                16'h000: s_reg_q <= MB_MAGIC;
                16'h004: s_reg_q <= MB_VERSION;
                16'h008: s_reg_q <= doorbell;
                16'h00C: s_reg_q <= accepted;
                16'h010: s_reg_q <= done;
                16'h014: s_reg_q <= status;
                16'h018: s_reg_q <= command;
                16'h01C: s_reg_q <= detail;
                16'h020, 16'h024, 16'h028, 16'h02C, 16'h030, 16'h034, 16'h038, 16'h03C:
                    s_reg_q <= args[s_adr[4:2]];
                16'h040, 16'h044, 16'h048, 16'h04C: s_reg_q <= results[s_adr[3:2]];
                16'h050, 16'h054, 16'h058, 16'h05C: s_reg_q <= marker[s_adr[3:2]];
                16'h060: s_reg_q <= heartbeat;
                default: s_reg_q <= 32'd0;
            endcase
        end
    end

    // ---- sequencer ----------------------------------------------------------------------------
    integer q;
    always @(posedge clk) begin
        w_we <= {WMB{1'b0}};
        wl_ok <= 1'b0;
        wl_ok2 <= wl_ok; wl_idx2 <= wl_idx; wl_zero2 <= wl_zero;   // weight read latency: two stages
        if (wl_ok2) wreg[8*WMB*wl_idx2 +: 8*WMB] <= wl_zero2 ? {8*WMB{1'b0}} : w_q;
        arr_clear <= 1'b0;
        arr_step <= 1'b0;
        pend_ok <= 1'b0;
        pend_ok2 <= pend_ok; pend_row2 <= pend_row;          // window read latency: two stages
        if (pend_ok2) rowin[8*pend_row2[RW-1:0] +: 8] <= wb_q;
        if (rst) begin
            state <= S_CCLR; fc <= 0; ret <= S_IDLE;
            doorbell <= 0; accepted <= 0; done <= 0; status <= 0; command <= 0; detail <= 0;
            heartbeat <= 0; hb_div <= 0; loaded <= 1'b0; cache_ok <= 1'b0; cycles <= 0;
            m_cyc <= 1'b0; m_stb <= 1'b0; m_we <= 1'b0;
            for (q = 0; q < 4; q = q + 1) begin results[q] <= 0; marker[q] <= 0; end
            for (q = 0; q < 8; q = q + 1) args[q] <= 0;
        end else begin
            // firmware-owned registers
            if (s_cyc && s_stb && s_we && !s_ack) begin
                case (s_adr)
                    16'h008: doorbell <= s_dat_w;
                    16'h018: command <= s_dat_w;
                    16'h020, 16'h024, 16'h028, 16'h02C, 16'h030, 16'h034, 16'h038, 16'h03C:
                        args[s_adr[4:2]] <= s_dat_w;
                    16'h050, 16'h054, 16'h058, 16'h05C: marker[s_adr[3:2]] <= s_dat_w;
                    default: if (s_adr >= 16'h100 && s_scr < SCRATCH_WORDS)
                        scratch[s_scr[$clog2(SCRATCH_WORDS)-1:0]] <= s_dat_w;
                endcase
            end
            if (state != S_IDLE) cycles <= cycles + 1;

            case (state)
            S_IDLE: begin
                hb_div <= hb_div + 1;
                if (hb_div == 8'hff) heartbeat <= heartbeat + 1;
                if (doorbell != accepted) begin
                    accepted <= doorbell;
                    seq <= doorbell;
                    status <= 0; detail <= 0; cycles <= 0;
                    for (q = 0; q < 4; q = q + 1) results[q] <= 0;
                    cache_ok <= 1'b0;
                    d_macs <= 0; d_pulses <= 0; d_digital <= 0; d_tiles <= 0; d_wbytes <= 0; d_op <= 1'b0;
                    case (command)
                        CMD_NOP: state <= S_FINISH;
                        CMD_MEMCPY: begin i <= 0; crc <= 32'hffffffff; state <= S_MC; end
                        CMD_LOAD_IMAGE: state <= S_L0;
                        CMD_RUN_OP: state <= S_R0;
                        CMD_RESET_COUNTERS: begin fc <= 0; ret <= S_FINISH; state <= S_CCLR; end
                        default: fail(ERR_UNKNOWN_COMMAND, command);
                    endcase
                end
            end
            S_RD: if (cache_ok && cache_adr == m_adr) begin rdata <= cache_dat; state <= ret; end
                  else begin m_cyc <= 1'b1; m_stb <= 1'b1; state <= S_BUS; end
            S_BUS: if (m_ack || m_err) begin
                m_cyc <= 1'b0; m_stb <= 1'b0;
                if (m_err) fail(ERR_BAD_ADDRESS, m_adr);
                else begin
                    if (!m_we) begin
                        rdata <= m_dat_r; cache_adr <= m_adr; cache_dat <= m_dat_r; cache_ok <= 1'b1;
                    end
                    state <= ret;
                end
            end
            S_FINISH: begin fc <= 0; state <= S_CF; end
            S_CF: if (fc == NCNT) begin                    // the command's counts are in the counters
                      done <= seq;                          // last: STATUS and RESULT* are valid
                      state <= S_IDLE;
                  end else if (!s_cnt_rd) state <= S_CF2;  // (a mailbox read of a counter goes first)
            S_CF2: begin                                    // cnt_q = counters[fc]
                counters[fc] <= cnt_q + count_delta(fc);
                fc <= fc + 1; state <= S_CF;
            end
            S_CCLR: begin                                   // reset: zero the counters
                counters[fc] <= 64'd0;
                if (fc == NCNT - 1) state <= ret; else fc <= fc + 1;
            end

            S_MUL: if (mul_b == 0) state <= mret;
                   else begin
                       if (mul_b[0]) mul_p <= mul_p + mul_a;
                       mul_a <= mul_a << 1; mul_b <= mul_b >> 1;
                   end

            // -- MEMCPY (diagnostic): byte by byte, CRC-32 of the bytes --------------------------
            S_MC: if (i == args[2]) begin
                results[0] <= ~crc; state <= S_FINISH;
            end else bus_read(args[0] + i, S_MC_W);
            S_MC_W: begin
                crc <= crc32_byte(crc, rdata_byte);
                bus_write_byte(args[1] + i, rdata_byte, S_MC_N);
            end
            S_MC_N: begin i <= i + 1; state <= S_MC; end

            // -- LOAD_IMAGE: header, section table ------------------------------------------------
            S_L0: begin                                  // a failed load leaves no image resident
                was_loaded <= loaded; loaded <= 1'b0;
                if (args[0][1:0] != 0 || args[1] < 96) fail(ERR_BAD_IMAGE, args[0]);
                else bus_read(args[0], S_L1);
            end
            S_L1: if (rdata != 32'h474D4943) fail(ERR_BAD_IMAGE, args[0]);         // "CIMG"
                  else bus_next(4, S_L2);
            S_L2: if (rdata[15:0] != 16'd1) fail(ERR_BAD_IMAGE, args[0]);          // format 1.x
                  else bus_next(8, S_L3);
            S_L3: if (rdata != args[1]) fail(ERR_BAD_IMAGE, args[0]);              // total size
                  else bus_next(4, S_L4);
            S_L4: if (rdata != TARGET_ID) fail(ERR_BAD_IMAGE, rdata);              // mapped for us
                  else bus_next(8, S_L5);
            S_L5: begin nsec <= rdata; bus_next(4, S_L6); end
            S_L6: begin tbl <= args[0] + rdata; bus_next(8, S_L7); end
            S_L7: begin
                nops <= rdata[31:16]; i <= 0;
                sec_tensors <= 0; sec_prog <= 0; sec_mats <= 0; sec_tiles <= 0; sec_cells <= 0;
                sec_quant <= 0; msize <= 0; qsize <= 0;
                state <= S_L8;
            end
            S_L8: if (i == nsec) state <= S_L11;
                  else bus_read(tbl + 16 * i, S_L9);
            S_L9: begin sid <= rdata; bus_next(4, S_L10); end
            S_L10: begin soff <= args[0] + rdata; bus_next(4, S_L12); end
            S_L12: begin
                case (sid)
                    2: sec_tensors <= soff;
                    3: sec_prog <= soff;
                    4: begin sec_mats <= soff; msize <= rdata; end
                    5: sec_tiles <= soff;
                    6: sec_cells <= soff;
                    7: begin sec_quant <= soff; qsize <= rdata; end
                    default: ;
                endcase
                i <= i + 1; state <= S_L8;
            end
            S_L11: if (sec_prog == 0 || sec_tensors == 0 || sec_mats == 0 || sec_tiles == 0 ||
                       sec_cells == 0 || sec_quant == 0 || (qsize >> 2) > QWORDS)
                       fail(ERR_BAD_IMAGE, args[0]);
                   else bus_read(args[0] + args[1] - 32, S_L13);          // SHA-256 trailer
            S_L13: if (was_loaded && img_addr == args[0] && img_size == args[1] && img_digest == rdata)
                       begin loaded <= 1'b1; pos <= sec_prog; i <= 0; ncim <= 0; state <= S_LCNT; end  // resident
                   else begin
                       img_digest <= rdata; j <= 0; state <= S_LCLR;
                   end
            S_LCLR: if (j == WWORDS) begin j <= 0; state <= S_LQ; end
                    else begin
                        w_addr <= j[WAW-1:0]; w_din <= {8*WMB{1'b0}}; w_we <= {WMB{1'b1}};
                        j <= j + 1;
                    end
            S_LQ: if (j == (qsize >> 2)) begin mi <= 0; state <= S_LM; end
                  else bus_read(sec_quant + 4 * j, S_LQ2);
            S_LQ2: begin                                 // quantization word j above the weights
                w_addr <= WWORDS + j[$clog2(QWORDS)-1:0]; w_din <= {(WMB/4){rdata}}; w_we <= 4'hf;
                j <= j + 1; state <= S_LQ;
            end
            // matrices
            S_LM: if (32 * mi >= msize) begin
                      loaded <= 1'b1; img_addr <= args[0]; img_size <= args[1];
                      pos <= sec_prog; i <= 0; ncim <= 0; state <= S_LCNT;
                  end else bus_read(sec_mats + 32 * mi, S_LM1);
            S_LM1: begin m_kind <= rdata; bus_next(4, S_LM2); end
            S_LM2: begin m_k <= rdata; bus_next(8, S_LM3); end
            S_LM3: begin m_coff <= rdata; bus_next(8, S_LM4); end
            S_LM4: begin m_t0 <= rdata; bus_next(4, S_LM5); end
            S_LM5: begin m_nt <= rdata; ti <= 0; state <= S_LT; end
            // tiles of the matrix: weights to (array, row, column)
            S_LT: if (ti == m_nt) begin mi <= mi + 1; state <= S_LM; end
                  else begin tr_run <= 1'b0; bus_read(sec_tiles + x28(m_t0 + ti), S_LT1); end
            S_LT1: begin tl_macro <= rdata[31:16]; bus_next(4, S_LT2); end
            S_LT2: begin
                tl_arr <= tl_macro * APM + rdata[15:0]; tl_row0 <= rdata[31:16];
                bus_next(4, S_LT3);
            end
            S_LT3: begin tl_col0 <= rdata[15:0]; bus_next(4, S_LT4); end
            S_LT4: begin tl_k0 <= rdata; bus_next(4, S_LT5); end
            S_LT5: begin tl_klen <= rdata; bus_next(4, S_LT6); end
            S_LT6: begin tl_n0 <= rdata; bus_next(4, S_LT7); end
            S_LT7: begin                                 // (a tile record, for LOAD_IMAGE or RUN_OP)
                tl_nlen <= rdata; cch <= 0; dmr <= tl_n0; start_mul(tl_klen, rdata, tr_run ? S_RT7B : S_LT8);
            end
            S_LT8: begin tl_ext <= (m_kind == 1) ? mul_p : tl_klen; start_mul(tl_n0, m_k, S_LT9); end
            S_LT9: if (tl_arr >= NARR || tl_col0 + tl_nlen > WCOLS || tl_row0 + tl_ext > ROWS)
                       fail(ERR_BAD_IMAGE, m_t0 + ti);                   // not mapped for this instance
                   else begin
                       colbase <= sec_cells + m_coff + mul_p + tl_k0;
                       rowbase <= tl_row0;
                       j <= 0; k <= 0; state <= S_LW;
                   end
            S_LW: if (j == tl_nlen) begin ti <= ti + 1; state <= S_LT; end
                  else if (k == tl_klen) begin
                      j <= j + 1; k <= 0; colbase <= colbase + m_k;
                      if (m_kind == 1) rowbase <= rowbase + tl_klen;
                  end else bus_read(colbase + k, S_LW2);
            S_LW2: begin
                w_addr <= (tl_arr * WCOLS + tl_col0 + j) * WPC + row_sel / WMB;
                w_din <= {WMB{rdata_byte}};
                w_we <= {{(WMB-1){1'b0}}, 1'b1} << (row_sel % WMB);
                d_wbytes <= d_wbytes + 1;
                k <= k + 1; state <= S_LW;
            end
            // count the CiM ops of the program (RESULT1)
            S_LCNT: if (i == nops) begin
                        results[0] <= nops; results[1] <= ncim; state <= S_FINISH;
                    end else bus_read(pos, S_LCNT2);
            S_LCNT2: begin pos <= pos + rdata[31:16]; bus_next(4, S_LCNT3); end
            S_LCNT3: begin ncim <= ncim + rdata[24]; i <= i + 1; state <= S_LCNT; end

            // -- RUN_OP: find the op, its tensors, parameters, matrix and tiles --------------------
            S_R0: if (!loaded) fail(ERR_NO_IMAGE, 0);
                  else if (args[0] >= nops) fail(ERR_BAD_OP, args[0]);
                  else begin pos <= sec_prog; i <= 0; state <= S_R1; end
            S_R1: if (i == args[0]) bus_read(pos, S_R2);
                  else bus_read(pos, S_R1B);
            S_R1B: begin pos <= pos + rdata[31:16]; i <= i + 1; state <= S_R1; end
            S_R2: begin op_code <= rdata[15:0]; bus_next(4, S_R2B); end
            S_R2B: begin
                op_nin <= rdata[7:0]; op_nout <= rdata[15:8]; op_npar <= rdata[23:16];
                op_flags <= rdata[31:24];
                tidpos <= pos + 8;
                parpos <= pos + 8 + ((2 * (rdata[7:0] + rdata[15:8]) + 3) & ~32'd3);
                if (!rdata[24] || op_code < 1 || op_code > 3 || rdata[23:16] > 16)
                    fail(ERR_BAD_OP, args[0]);
                else begin i <= 0; nact <= 0; state <= S_R3; end
            end
            S_R3: if (i == op_nin) begin
                      if (nact != 1) fail(ERR_BAD_OP, args[0]);
                      else bus_read(tidpos + 2 * op_nin, S_R4);
                  end else bus_read(tidpos + 2 * i, S_R3B);
            S_R3B: begin k <= rdata_half; bus_read(sec_tensors + x36(rdata_half), S_R3C); end
            S_R3C: begin
                if (rdata[23:16] == 0) begin act_t <= k; nact <= nact + 1; end     // arena tensor
                i <= i + 1; state <= S_R3;
            end
            S_R4: begin out_t <= rdata_half; j <= 0; state <= S_R5; end
            S_R5: if (j == op_npar) state <= S_R6;
                  else bus_read(parpos + 4 * j, S_R5B);
            S_R5B: begin                                 // parameter j straight into its register
                if (j == 0) mi <= rdata;
                else if (op_code == 3) case (j[3:0])             // FULLY_CONNECTED
                    1: in_zp <= rdata; 2: out_zp <= rdata; 3: act_min <= rdata; 4: act_max <= rdata;
                    default: ;
                endcase else case (j[3:0])                        // CONV_2D, DEPTHWISE_CONV_2D
                    1: sh <= rdata; 2: sw <= rdata; 3: dh <= rdata; 4: dw <= rdata;
                    5: pt <= rdata; 6: pl <= rdata; 7: kh <= rdata; 8: kw <= rdata;
                    9: if (op_code == 2) dm <= rdata; else in_zp <= rdata;
                    10: if (op_code == 2) in_zp <= rdata; else out_zp <= rdata;
                    11: if (op_code == 2) out_zp <= rdata; else act_min <= rdata;
                    12: if (op_code == 2) act_min <= rdata; else act_max <= rdata;
                    13: if (op_code == 2) act_max <= rdata;
                    default: ;
                endcase
                j <= j + 1; state <= S_R5;
            end
            S_R6: begin
                if (op_code == 3) begin                      // FULLY_CONNECTED: a 1x1 conv over rows
                    sh <= 1; sw <= 1; dh <= 1; dw <= 1; pt <= 0; pl <= 0; kh <= 1; kw <= 1; dm <= 1;
                end else if (op_code != 2) dm <= 1;
                bus_read(sec_tensors + x36(act_t) + 8, S_R7);
            end
            S_R7: begin in_h <= rdata; bus_next(4, S_R7B); end
            S_R7B: begin in_w <= rdata; bus_next(4, S_R7C); end
            S_R7C: begin in_c <= rdata; bus_next(8, S_R7D); end
            S_R7D: begin in_bytes <= rdata; bus_read(sec_tensors + x36(out_t) + 8, S_R7E); end
            S_R7E: begin out_h <= rdata; bus_next(4, S_R7F); end
            S_R7F: begin out_w <= rdata; bus_read(sec_matrices_addr(mi), S_R8); end
            S_R8: begin m_kind <= rdata; bus_next(4, S_R8B); end
            S_R8B: begin m_k <= rdata; bus_next(4, S_R8C); end
            S_R8C: begin m_n <= rdata; bus_next(8, S_R8D); end
            S_R8D: begin m_qoff <= rdata; bus_next(4, S_R8E); end
            S_R8E: begin m_t0 <= rdata; bus_next(4, S_R8F); end
            S_R8F: begin
                m_nt <= rdata;
                if (op_code == 3) begin in_h <= 1; in_w <= 0; in_c <= m_k; out_h <= 1; j <= 0; end
                state <= S_M0;
            end
            S_M0: start_mul(kh, kw, S_M1);
            S_M1: start_mul(mul_p, in_c, S_M2);
            S_M2: begin winlen <= mul_p; state <= S_R8G; end
            S_R8G: if (m_n > NMAX || m_nt > TMAX || m_nt == 0 || winlen > WINMAX || m_k > WINMAX
                       || (m_qoff >> 2) + x3(m_n) > QWORDS)
                       fail(ERR_BAD_OP, args[0]);                   // exceeds this instance's buffers
                   else if (op_code == 3) state <= S_R9;
                   else state <= S_M3;
            S_R9: if (j >= in_bytes) begin out_w <= in_w; state <= S_M3; end  // rows = bytes / K
                  else begin j <= j + m_k; in_w <= in_w + 1; end
            // strides of the input in bytes, for incremental window addresses
            S_M3: start_mul(in_w, in_c, S_M4);
            S_M4: begin rowstride <= mul_p; start_mul(sh, mul_p, S_M5); end
            S_M5: begin sh_rs <= mul_p; start_mul(dh, rowstride, S_M6); end
            S_M6: begin dh_rs <= mul_p; start_mul(sw, in_c, S_M7); end
            S_M7: begin sw_c <= mul_p; start_mul(dw, in_c, S_M8); end
            S_M8: begin dw_c <= mul_p; start_mul(pt, rowstride, S_M9); end
            S_M9: begin pt_rs <= mul_p; start_mul(pl, in_c, S_M10); end
            S_M10: begin pl_c <= mul_p; ti <= 0; state <= S_RT; end
            // tile table of the matrix
            S_RT: if (ti == m_nt) begin
                      o_y <= 0; o_x <= 0; out_ptr <= args[2]; out_total <= 0;
                      by <= -$signed({16'd0, pt}); bx <= -$signed({16'd0, pl}); ybase <= -pt_rs; xbase <= -pl_c;
                      state <= S_P0;
                  end else begin tr_run <= 1'b1; bus_read(sec_tiles + x28(m_t0 + ti), S_LT1); end
            S_RT7B: begin
                tl_prod <= mul_p;
                if (dm == 1) begin
                    ttab[ti[$clog2(TMAX)-1:0]] <= {mul_p[15:0], 16'd0, tl_n0[15:0], tl_nlen[15:0], tl_n0[15:0],
                                                   tl_klen[15:0], tl_k0[15:0], tl_col0[15:0], tl_row0[15:0],
                                                   tl_arr[15:0]};
                    ti <= ti + 1; state <= S_RT;
                end else state <= S_RT8;
            end
            S_RT8: if (dmr >= dm) begin dmr <= dmr - dm; cch <= cch + 1; end      // n0 / dm, n0 % dm
                   else begin
                       ttab[ti[$clog2(TMAX)-1:0]] <= {tl_prod[15:0], dmr[15:0], cch[15:0], tl_nlen[15:0],
                                                      tl_n0[15:0], tl_klen[15:0], tl_k0[15:0], tl_col0[15:0],
                                                      tl_row0[15:0], tl_arr[15:0]};
                       ti <= ti + 1; state <= S_RT;
                   end

            // -- one output position --------------------------------------------------------------
            S_P0: begin
                ky <= 0; kx <= 0; c <= 0; widx <= 0; ty <= 0; tx <= 0; ytap <= 0; xtap <= 0; state <= S_PG;
            end
            S_PG: begin                                          // start of a tap (ky, kx)
                tap_in <= (iy >= 0 && iy < $signed({16'd0, in_h}) && ix >= 0 && ix < $signed({16'd0, in_w}));
                tap_addr <= args[1] + ybase + ytap + xbase + xtap;   // + (iy * W + ix) * C
                c <= 0;
                state <= S_PG2;
            end
            S_PG2: if (c == in_c) begin
                       if (kx + 1 < kw) begin
                           kx <= kx + 1; tx <= tx + $signed({16'd0, dw}); xtap <= xtap + dw_c; state <= S_PG;
                       end else if (ky + 1 < kh) begin
                           kx <= 0; tx <= 0; xtap <= 0; ky <= ky + 1; ty <= ty + $signed({16'd0, dh}); ytap <= ytap + dh_rs;
                           state <= S_PG;
                       end else begin n <= 0; state <= S_PC; end
                   end else if (tap_in) begin
                       if (cache_ok && cache_adr == {g_addr[31:2], 2'b00}) begin   // the gather's hot path:
                           rdata <= cache_dat; rbyte <= g_addr[1:0]; state <= S_PG3; // a hit in one cycle
                       end else bus_read(g_addr, S_PG3);
                   end
                   else begin winbuf[widx[$clog2(WINMAX)-1:0]] <= in_zp[7:0]; widx <= widx + 1; c <= c + 1; end
            S_PG3: begin
                winbuf[widx[$clog2(WINMAX)-1:0]] <= rdata_byte; widx <= widx + 1; c <= c + 1; state <= S_PG2;
            end
            S_PC: if (n == m_n) begin ti <= 0; state <= S_PT; end             // clear partial sums
                  else begin accmem[n[$clog2(NMAX)-1:0]] <= 0; n <= n + 1; end
            // a tile: its rows of the window onto the word lines, zero elsewhere
            S_PT: if (ti == m_nt) begin n <= 0; state <= S_PQ; end
                  else begin tt_raddr <= ti; state <= S_PT2; end
            S_PT2: state <= S_PT3;                                // tile table read latency
            S_PT3: begin
                tl_arr <= tt_q[15:0]; tl_row0 <= tt_q[31:16]; tl_col0 <= tt_q[47:32];
                tl_k0 <= tt_q[63:48]; tl_klen <= tt_q[79:64]; tl_n0 <= tt_q[95:80]; tl_nlen <= tt_q[111:96];
                cch <= tt_q[127:112]; dmr <= tt_q[143:128]; tl_prod <= tt_q[159:144];
                kaddr <= tt_q[127:112]; prow <= tt_q[31:16];
                rowin <= {8*ROWS{1'b0}};
                j <= 0; k <= 0; state <= S_PF;
            end
            S_PF: begin                                           // issue window reads, one row a cycle
                if (m_kind == 1) begin
                    if (j == tl_nlen) state <= S_PF2;
                    else begin                                    // block j: rows row0 + j*K + k
                        wb_raddr <= kaddr;                        // window byte k*C + channel
                        pend_row <= prow; pend_ok <= 1'b1; prow <= prow + 1;
                        if (k + 1 == tl_klen) begin
                            k <= 0; j <= j + 1;
                            if (dmr + 1 == dm) begin dmr <= 0; cch <= cch + 1; kaddr <= cch + 1; end
                            else begin dmr <= dmr + 1; kaddr <= cch; end
                        end else begin k <= k + 1; kaddr <= kaddr + in_c; end
                    end
                end else begin
                    if (k == tl_klen) state <= S_PF2;
                    else begin
                        wb_raddr <= tl_k0 + k; pend_row <= tl_row0 + k; pend_ok <= 1'b1; k <= k + 1;
                    end
                end
            end
            S_PF2: begin g0 <= 0; state <= S_PW; end              // (window bytes land two cycles on)
            // a group of PAR columns: latch weights, IB-bit input cycles, accumulate
            S_PW: begin j <= 0; h <= 0; wl_base <= (tl_arr * WCOLS + tl_col0 + g0) * WPC; state <= S_PA; end
            S_PA: begin                                           // read word h of column g0 + j
                w_addr <= wl_base + h;
                wl_ok <= 1'b1; wl_idx <= j * WPC + h; wl_zero <= !(g0 + j < tl_nlen);
                if (h + 1 == WPC) begin
                    h <= 0; wl_base <= wl_base + WPC;
                    if (j + 1 == PAR) state <= S_PW2;
                    else j <= j + 1;
                end else h <= h + 1;
            end
            S_PW2: state <= S_PA2W;                               // the last word lands two cycles on
            S_PA2W: begin arr_clear <= 1'b1; k <= 0; state <= S_PS; end
            S_PS: if (k == NSLICE) begin j <= 0; state <= S_PACC; end
                  else begin arr_step <= 1'b1; arr_slice <= k[3:0]; k <= k + 1; end
            S_PACC: if (j == PAR || g0 + j >= tl_nlen) begin
                        g0 <= g0 + PAR;
                        state <= (g0 + PAR < tl_nlen) ? S_PW : S_PN;
                    end else begin acc_raddr <= tl_n0 + g0 + j; state <= S_PA2; end
            S_PA2: state <= S_PACC2;
            S_PACC2: begin
                accmem[acc_raddr[$clog2(NMAX)-1:0]] <= acc_q + $signed(arr_sums[32*jp +: 32]);
                j <= j + 1; state <= S_PACC;
            end
            S_PN: begin                                           // tile done: energy-model counts
                d_macs <= d_macs + tl_prod;
                d_tiles <= d_tiles + 1;
                d_pulses <= d_pulses + (dwise ? tl_prod : tl_klen) * NSLICE;
                d_digital <= d_digital + tl_nlen * 8 * NSLICE + tl_nlen;
                ti <= ti + 1; state <= S_PT;
            end
            // bias, requantization, clamp, write back
            S_PQ: if (n == m_n) state <= S_PNEXT;
                  else begin acc_raddr <= n; w_addr <= WWORDS + (m_qoff >> 2) + x3(n); state <= S_PQ2; end
            S_PQ2: begin w_addr <= w_addr + 1; state <= S_PQ3; end
            S_PQ3: begin rq_acc <= acc_q + $signed(w_q[31:0]); w_addr <= w_addr + 1; state <= S_PQ4; end
            S_PQ4: begin rq_mult <= w_q[31:0]; state <= S_PQ5; end
            S_PQ5: begin rq_shift <= w_q[31:0]; state <= S_PQ6; end
            S_PQ6: begin bus_write_byte(out_ptr + n, rq_y, S_PQ); n <= n + 1; end
            S_PNEXT: begin
                out_ptr <= out_ptr + m_n; out_total <= out_total + m_n;
                if (o_x + 1 < out_w) begin
                    o_x <= o_x + 1; bx <= bx + $signed({16'd0, sw}); xbase <= xbase + sw_c; state <= S_P0;
                end else if (o_y + 1 < out_h) begin
                    o_x <= 0; bx <= -$signed({16'd0, pl}); xbase <= -pl_c;
                    o_y <= o_y + 1; by <= by + $signed({16'd0, sh}); ybase <= ybase + sh_rs; state <= S_P0;
                end else state <= S_RDONE;
            end
            S_RDONE: begin
                d_op <= 1'b1;
                results[0] <= out_total;
                results[1] <= cycles;                       // coprocessor clock cycles of the op
                state <= S_FINISH;
            end
            default: state <= S_IDLE;
            endcase
        end
    end

    // constant products of the record sizes, as shift-adds
    function [31:0] x28(input [31:0] v); x28 = (v << 5) - (v << 2); endfunction
    function [31:0] x36(input [31:0] v); x36 = (v << 5) + (v << 2); endfunction
    function [31:0] x3(input [31:0] v);  x3 = (v << 1) + v; endfunction

    // what the finished command adds to counter slot c
    function [63:0] count_delta(input [3:0] c);
        case (c)
            C_COMMANDS: count_delta = 1;
            C_OPS: count_delta = d_op;
            C_MACS: count_delta = d_macs;
            C_PULSES: count_delta = d_pulses;
            C_TILE_OPS: count_delta = d_tiles;
            C_DIGITAL: count_delta = d_digital;
            C_WEIGHT_BYTES: count_delta = d_wbytes;
            C_INPUT_BYTES: count_delta = d_op ? in_bytes : 32'd0;
            C_OUTPUT_BYTES: count_delta = d_op ? out_total : 32'd0;
            default: count_delta = 0;
        endcase
    endfunction

    function [31:0] sec_matrices_addr(input [31:0] idx);
        sec_matrices_addr = sec_mats + 32 * idx;
    endfunction

    function [31:0] crc32_byte(input [31:0] crc_in, input [7:0] data);
        integer b;
        reg [31:0] cr;
        begin
            cr = crc_in ^ {24'd0, data};
            for (b = 0; b < 8; b = b + 1) cr = cr[0] ? (cr >> 1) ^ 32'hEDB88320 : cr >> 1;
            crc32_byte = cr;
        end
    endfunction
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
