// A UART with PicoSoC simpleuart's registers and timing, in about a third of its logic cells: the
// firmware's driver (firmware/board/uart_simpleuart.c) and the simulation's UART model
// (rtl/sim/soc_main.cpp) see the same device. simpleuart keeps a 32-bit divider and two 32-bit
// counters compared with `>` (about 330 iCE40 logic cells); here the divider is 16 bits (12 MHz /
// 16 bits reaches down to 184 baud) and the counters are compared for equality.
//
//   divider register: a bit lasts divider + 2 clocks (as simpleuart's); reads back the divider
//   data register:    write = send a byte (the write waits while the transmitter is busy);
//                     read  = the received byte once (one byte of buffer), else all ones
`default_nettype none
module cim_uart (
    input  wire        clk,
    input  wire        resetn,
    output wire        ser_tx,
    input  wire        ser_rx,
    input  wire [3:0]  reg_div_we,
    input  wire [31:0] reg_div_di,
    output wire [31:0] reg_div_do,
    input  wire        reg_dat_we,
    input  wire        reg_dat_re,
    input  wire [31:0] reg_dat_di,
    output wire [31:0] reg_dat_do,
    output wire        reg_dat_wait
);
    reg [15:0] cfg_divider;
    always @(posedge clk) begin
        if (!resetn) cfg_divider <= 16'd1;
        else begin
            if (reg_div_we[0]) cfg_divider[7:0] <= reg_div_di[7:0];
            if (reg_div_we[1]) cfg_divider[15:8] <= reg_div_di[15:8];
        end
    end
    assign reg_div_do = {16'd0, cfg_divider};

    // receive: the start bit's middle, then 8 data bits and the stop bit a bit time apart.
    // The counters start at all ones: reaching the divider takes divider + 2 clocks.
    reg [3:0]  recv_state;          // 0 idle, 1 start bit, 2-9 data bits, 10 stop bit
    reg [15:0] recv_cnt;
    reg [7:0]  recv_pattern, recv_buf_data;
    reg        recv_buf_valid;
    wire       recv_tick = recv_cnt == (recv_state == 4'd1 ? {1'b0, cfg_divider[15:1]} : cfg_divider);
    always @(posedge clk) begin
        recv_cnt <= recv_cnt + 1'b1;
        if (reg_dat_re) recv_buf_valid <= 1'b0;
        if (recv_state == 4'd0) begin
            recv_cnt <= 16'hffff;
            if (!ser_rx) recv_state <= 4'd1;
        end else if (recv_tick) begin
            recv_cnt <= 16'hffff;
            recv_state <= recv_state == 4'd10 ? 4'd0 : recv_state + 1'b1;
            if (recv_state == 4'd10) begin
                recv_buf_data <= recv_pattern;
                recv_buf_valid <= 1'b1;
            end else recv_pattern <= {ser_rx, recv_pattern[7:1]};
        end
        if (!resetn) begin
            recv_state <= 4'd0;
            recv_buf_valid <= 1'b0;
        end
    end
    assign reg_dat_do = recv_buf_valid ? {24'd0, recv_buf_data} : 32'hffff_ffff;

    // send: start bit, 8 data bits, stop bit
    reg [9:0]  send_pattern;
    reg [3:0]  send_bitcnt;
    reg [15:0] send_cnt;
    always @(posedge clk) begin
        send_cnt <= send_cnt + 1'b1;
        if (reg_dat_we && send_bitcnt == 4'd0) begin
            send_pattern <= {1'b1, reg_dat_di[7:0], 1'b0};
            send_bitcnt <= 4'd10;
            send_cnt <= 16'hffff;
        end else if (send_bitcnt != 4'd0 && send_cnt == cfg_divider) begin
            send_pattern <= {1'b1, send_pattern[9:1]};
            send_bitcnt <= send_bitcnt - 1'b1;
            send_cnt <= 16'hffff;
        end
        if (!resetn) begin
            send_pattern <= 10'h3ff;
            send_bitcnt <= 4'd0;
        end
    end
    assign ser_tx = send_pattern[0];
    assign reg_dat_wait = reg_dat_we && send_bitcnt != 4'd0;
endmodule
`default_nettype wire
