// Bit-serial digital CiM array: ROWS word lines, PAR weight columns computed at once, each int8
// weight on 8 one-bit cells (two's complement bit slices), inputs fed IB bits per cycle.
// Per cycle and column: every weight bit plane b sums (adder tree) the products of its cells with the
// rows' IB-bit input slice; the planes are combined by shift-add (plane 7 negative), and the column
// accumulator adds the result shifted by the slice position (the top slice is signed).
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
    localparam PLW = $clog2(ROWS + 1) + IB + 1;        // one plane's sum: ROWS terms of IB+1 signed bits
    localparam CSW = PLW + 9;                          // the eight planes shift-added
    reg signed [31:0] acc [0:PAR-1];
    reg signed [CSW-1:0] colsum [0:PAR-1];
    reg signed [IB:0] xs [0:ROWS-1];        // the rows' slice, sign-extended by one bit
    integer r, p, b;
    reg signed [PLW-1:0] plane;

    always @* begin
        for (r = 0; r < ROWS; r = r + 1) begin
            if (slice == NSLICE - 1)
                xs[r] = {x[8*r + IB*slice + IB - 1], x[8*r + IB*slice +: IB]};   // signed top slice
            else
                xs[r] = {1'b0, x[8*r + IB*slice +: IB]};
        end
        for (p = 0; p < PAR; p = p + 1) begin
            colsum[p] = 0;
            for (b = 0; b < 8; b = b + 1) begin
                plane = 0;                              // adder tree of one bit-line
                for (r = 0; r < ROWS; r = r + 1)
                    if (w[8*(p*ROWS + r) + b]) plane = plane + xs[r];
                if (b == 7) colsum[p] = colsum[p] - ({{(CSW-PLW){plane[PLW-1]}}, plane} <<< 7);
                else colsum[p] = colsum[p] + ({{(CSW-PLW){plane[PLW-1]}}, plane} <<< b);
            end
        end
    end

    always @(posedge clk) begin
        for (p = 0; p < PAR; p = p + 1) begin
            if (clear) acc[p] <= 0;
            else if (step) acc[p] <= acc[p] + ({{(32-CSW){colsum[p][CSW-1]}}, colsum[p]} <<< (IB * slice));
        end
    end

    genvar g;
    generate for (g = 0; g < PAR; g = g + 1) begin : out
        assign sums[32*g +: 32] = acc[g];
    end endgenerate
endmodule
`default_nettype wire
