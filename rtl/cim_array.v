// Bit-serial digital CiM array: ROWS word lines, PAR weight columns computed at once, each int8
// weight on 8 one-bit cells (two's complement bit slices), inputs fed IB bits per cycle.
// Per cycle and column: every weight bit plane b counts (balanced popcount tree) the rows whose cell
// and input bit i are both set, for each of the IB input bits of the slice; the counts are combined by
// shift-add (plane 7 negative, the top input bit of the top slice negative), and the column
// accumulator adds the result shifted by the slice position.
//
// Area: a bit line is a popcount of ROWS AND gates (about 2 LUTs per row on an iCE40, widths growing
// with the tree level) rather than ROWS full-width additions; that is what makes a 16-row array a few
// hundred LUTs.
`default_nettype none
module cim_array #(
    parameter ROWS = 16,
    parameter PAR = 2,
    parameter IB = 1                        // input bits per cycle: 1, 2, 4 or 8
) (
    input  wire                    clk,
    input  wire                    clear,   // zero the column accumulators
    input  wire                    step,    // one input slice
    input  wire [3:0]              slice,   // which slice (0 = least significant)
    input  wire [8*ROWS-1:0]       x,       // row inputs, int8, row r at [8r +: 8]
    input  wire [8*ROWS*PAR-1:0]   w,       // latched weights, column p row r at [8(p*ROWS+r) +: 8]
    output wire [32*PAR-1:0]       sums     // column accumulators, int32
);
    localparam NSLICE = 8 / IB;
    localparam CW = $clog2(ROWS + 1);                  // one bit line's count
    localparam CSW = CW + 8 + IB + 1;                  // the counts shift-added, signed
    localparam SW = CSW + 8 - IB;                      // shifted by the slice position

    // the slice's input bits on the word lines: xb[i] row r = bit IB*slice + i of row r's input
    wire [ROWS-1:0] xb [0:IB-1];
    wire top = (slice == NSLICE - 1);
    genvar g, r, b, i;
    generate for (i = 0; i < IB; i = i + 1) begin : xbits
        for (r = 0; r < ROWS; r = r + 1) begin : row
            assign xb[i][r] = x[8*r + IB*slice + i];
        end
    end endgenerate

    generate for (g = 0; g < PAR; g = g + 1) begin : col
        wire [CW-1:0] cnt [0:8*IB-1];                  // plane b, input bit i at [b*IB + i]
        for (b = 0; b < 8; b = b + 1) begin : plane
            wire [ROWS-1:0] cells;
            for (r = 0; r < ROWS; r = r + 1) begin : wl
                assign cells[r] = w[8*(g*ROWS + r) + b];
            end
            for (i = 0; i < IB; i = i + 1) begin : ibit
                cim_popcount #(.N(ROWS)) pc (.bits(cells & xb[i]), .count(cnt[b*IB + i]));
            end
        end
        reg signed [CSW-1:0] colsum;
        reg signed [SW-1:0]  shifted;
        reg signed [31:0]    acc;
        integer bb, ii;
        always @* begin
            colsum = 0;
            for (bb = 0; bb < 8; bb = bb + 1)
                for (ii = 0; ii < IB; ii = ii + 1)
                    if ((bb == 7) != (top && ii == IB - 1))
                        colsum = colsum - ($signed({1'b0, cnt[bb*IB + ii]}) <<< (bb + ii));
                    else
                        colsum = colsum + ($signed({1'b0, cnt[bb*IB + ii]}) <<< (bb + ii));
            shifted = $signed(colsum) <<< (IB * slice);
        end
        always @(posedge clk) begin
            if (clear) acc <= 0;
            else if (step) acc <= acc + {{(32-SW){shifted[SW-1]}}, shifted};
        end
        assign sums[32*g +: 32] = acc;
    end endgenerate
endmodule

// The same array computed one bit plane a cycle (for the smallest FPGAs): each step counts the rows
// whose cell in plane `plane` and input bit `slice` are both set (one popcount tree per column instead
// of eight) and folds the count into the column's sum by Horner's rule, planes and slices from the
// most significant down: inner = 2 * inner + sign * count over the planes of a slice, and at plane 0
// sum = 2 * sum + inner (signs: plane 7 negative, the top input bit negative). 8 x 8 steps per
// matrix-vector product, clear first; IB = 1.
module cim_array_serial #(
    parameter ROWS = 16,
    parameter PAR = 1
) (
    input  wire                    clk,
    input  wire                    clear,   // zero the column sums (before the first step)
    input  wire                    step,    // one (slice, plane) pair, in the order slice 7..0, plane 7..0
    input  wire [2:0]              slice,   // input bit
    input  wire [2:0]              plane,   // weight bit plane
    input  wire [8*ROWS-1:0]       x,       // row inputs, int8, row r at [8r +: 8]
    input  wire [8*ROWS*PAR-1:0]   w,       // latched weights, column p row r at [8(p*ROWS+r) +: 8]
    output wire [32*PAR-1:0]       sums     // column sums, int32
);
    localparam CW = $clog2(ROWS + 1);
    localparam IW = CW + 9;                 // a slice's plane sum, signed
    wire neg = (plane == 3'd7) != (slice == 3'd7);
    wire [ROWS-1:0] xb;
    genvar g, r;
    generate for (r = 0; r < ROWS; r = r + 1) begin : xbit
        assign xb[r] = x[8*r + slice];
    end endgenerate
    generate for (g = 0; g < PAR; g = g + 1) begin : col
        wire [ROWS-1:0] cells;
        for (r = 0; r < ROWS; r = r + 1) begin : wl
            assign cells[r] = w[8*(g*ROWS + r) + plane];
        end
        wire [CW-1:0] cnt;
        cim_popcount #(.N(ROWS)) pc (.bits(cells & xb), .count(cnt));
        wire signed [IW-1:0] term = neg ? -$signed({1'b0, cnt}) : $signed({1'b0, cnt});
        reg  signed [IW-1:0] inner;
        wire signed [IW-1:0] inner_next = ((plane == 3'd7) ? {IW{1'b0}} : inner <<< 1) + term;
        reg  signed [31:0]   acc;
        always @(posedge clk) begin
            if (clear) begin inner <= 0; acc <= 0; end
            else if (step) begin
                inner <= inner_next;
                if (plane == 3'd0) acc <= (acc <<< 1) + {{(32-IW){inner_next[IW-1]}}, inner_next};
            end
        end
        assign sums[32*g +: 32] = acc;
    end endgenerate
endmodule

// Number of set bits of `bits`: a balanced tree of adders whose widths grow with the level.
module cim_popcount #(
    parameter N = 16
) (
    input  wire [N-1:0]             bits,
    output wire [$clog2(N+1)-1:0]   count
);
    generate if (N <= 3) begin : leaf
        assign count = bits[0] + ((N > 1) ? bits[N > 1 ? 1 : 0] : 1'b0) + ((N > 2) ? bits[N > 2 ? 2 : 0] : 1'b0);
    end else begin : node
        localparam NL = N / 2, NR = N - N / 2;
        wire [$clog2(NL+1)-1:0] cl;
        wire [$clog2(NR+1)-1:0] cr;
        cim_popcount #(.N(NL)) lo (.bits(bits[NL-1:0]), .count(cl));
        cim_popcount #(.N(NR)) hi (.bits(bits[N-1:NL]), .count(cr));
        assign count = cl + cr;
    end endgenerate
endmodule
`default_nettype wire
