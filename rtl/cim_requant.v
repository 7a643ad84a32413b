// TFLM requantization of one accumulator, exactly as tflite-micro's reference kernels:
// MultiplyByQuantizedMultiplier(x, mult, shift) = RoundingDivideByPOT(
//     SaturatingRoundingDoublingHighMul(x * (1 << left), mult), right)
// then + out_zp and the activation clamp. Combinational; the sequencer registers around it.
`default_nettype none
module cim_requant (
    input  wire signed [31:0] acc,      // int32 accumulator with the (folded) bias added
    input  wire signed [31:0] mult,     // per-channel quantized multiplier
    input  wire signed [31:0] shift,    // per-channel shift: > 0 left, <= 0 right
    input  wire signed [31:0] out_zp,
    input  wire signed [31:0] act_min,
    input  wire signed [31:0] act_max,
    output reg  signed [7:0]  y
);
    reg [5:0] left, right;
    reg signed [31:0] xl;
    reg signed [63:0] ab, num;
    reg signed [31:0] hi;               // SaturatingRoundingDoublingHighMul result
    reg [31:0] mask, rem, thr;
    reg signed [31:0] q, z;

    always @* begin
        left  = (shift > 0) ? shift[5:0] : 6'd0;
        right = (shift > 0) ? 6'd0 : (-shift) & 6'h3f;
        xl = acc <<< left;                                  // int32 arithmetic, as in C
        ab = $signed(xl) * $signed(mult);
        // (ab + nudge) / 2^31 toward zero, nudge = 2^30 or 1 - 2^30 by the sign of ab, is for both signs
        // floor((ab + 2^30) / 2^31): for ab < 0, truncating toward zero adds 2^31 - 1 before the floor.
        num = ab + 64'sd1073741824;
        hi = num[62:31];
        if (xl == 32'sh80000000 && mult == 32'sh80000000) hi = 32'sh7fffffff;
        mask = (32'd1 << right) - 32'd1;
        rem = hi & mask;
        thr = (mask >> 1) + ((hi < 0) ? 32'd1 : 32'd0);
        q = (hi >>> right) + ((rem > thr) ? 32'sd1 : 32'sd0);
        z = q + out_zp;
        if (z < act_min) z = act_min;
        if (z > act_max) z = act_max;
        y = z[7:0];
    end
endmodule
`default_nettype wire
