// exitflow AXI-Lite register block of the generated top: exit thresholds and counters.
//
// Register map (byte addresses, 32-bit registers, full-word accesses; WSTRB is ignored):
//   0x000 MAGIC       RO  0x45584631 ("EXF1")
//   0x004 EXITS       RO  number of exits N
//   0x008 CONTROL     WO  bit 0: clear every counter (reads 0)
//   0x00C FRAMES_IN   RO  frames accepted on the input stream
//   0x100 + 4k        RW  threshold of exit k (k < NT = N - 1), two's complement; reset value
//                         TH_INIT[k] (the calibrated threshold)
//   0x200 + 4k        RO  records delivered on the output stream from exit k (k < N)
// Other addresses read 0 and ignore writes; every response is OKAY. One transaction of each
// kind at a time: a write is performed once its address and data have both been accepted.
`timescale 1ns/1ps
module axilite_regs #(
    parameter integer N = 2,                       // exits
    parameter integer NT = 1,                      // run-time thresholds (non-final exits)
    parameter [NT*32-1:0] TH_INIT = {NT{32'd0}},   // reset thresholds, exit 0 in the LSBs
    parameter integer AW = 12
) (
    input  wire            ap_clk,
    input  wire            ap_rst_n,
    input  wire [AW-1:0]   s_axilite_AWADDR,
    input  wire            s_axilite_AWVALID,
    output wire            s_axilite_AWREADY,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [31:0]     s_axilite_WDATA,
    input  wire [3:0]      s_axilite_WSTRB,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire            s_axilite_WVALID,
    output wire            s_axilite_WREADY,
    output wire [1:0]      s_axilite_BRESP,
    output wire            s_axilite_BVALID,
    input  wire            s_axilite_BREADY,
    input  wire [AW-1:0]   s_axilite_ARADDR,
    input  wire            s_axilite_ARVALID,
    output wire            s_axilite_ARREADY,
    output wire [31:0]     s_axilite_RDATA,
    output wire [1:0]      s_axilite_RRESP,
    output wire            s_axilite_RVALID,
    input  wire            s_axilite_RREADY,
    output wire [NT*32-1:0] th,                    // thresholds, exit 0 in the LSBs
    input  wire [N-1:0]    cnt_inc,                // a record from exit k left this cycle
    input  wire            frame_in                // a frame entered this cycle
);
    reg [31:0] th_r [0:NT-1];
    reg [31:0] cnt [0:N-1];
    reg [31:0] frames;
    reg [AW-1:0] awaddr;
    reg [31:0] wdata;
    reg aw_full, w_full, bvalid, rvalid;
    reg [31:0] rdata;

    assign s_axilite_AWREADY = !aw_full && !bvalid;
    assign s_axilite_WREADY = !w_full && !bvalid;
    assign s_axilite_BRESP = 2'b00;
    assign s_axilite_BVALID = bvalid;
    assign s_axilite_ARREADY = !rvalid;
    assign s_axilite_RDATA = rdata;
    assign s_axilite_RRESP = 2'b00;
    assign s_axilite_RVALID = rvalid;

    wire do_write = aw_full && w_full && !bvalid;
    wire clear = do_write && awaddr == AW'(12'h008) && wdata[0];
    genvar gk;
    generate
        for (gk = 0; gk < NT; gk = gk + 1) begin : g_th
            assign th[gk*32 +: 32] = th_r[gk];
        end
    endgenerate

    function automatic [31:0] read_reg(input [AW-1:0] a);
        integer k;
        begin
            read_reg = 32'd0;
            if (a == AW'(12'h000)) read_reg = 32'h45584631;
            if (a == AW'(12'h004)) read_reg = N;
            if (a == AW'(12'h00C)) read_reg = frames;
            for (k = 0; k < NT; k = k + 1)
                if (a == AW'(12'h100 + 4 * k)) read_reg = th_r[k];
            for (k = 0; k < N; k = k + 1)
                if (a == AW'(12'h200 + 4 * k)) read_reg = cnt[k];
        end
    endfunction

    integer j;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            aw_full <= 1'b0; w_full <= 1'b0; bvalid <= 1'b0; rvalid <= 1'b0;
            rdata <= 32'd0; awaddr <= 0; wdata <= 32'd0; frames <= 32'd0;
            for (j = 0; j < NT; j = j + 1) th_r[j] <= TH_INIT[j*32 +: 32];
            for (j = 0; j < N; j = j + 1) cnt[j] <= 32'd0;
        end else begin
            if (s_axilite_AWVALID && s_axilite_AWREADY) begin
                aw_full <= 1'b1; awaddr <= s_axilite_AWADDR;
            end
            if (s_axilite_WVALID && s_axilite_WREADY) begin
                w_full <= 1'b1; wdata <= s_axilite_WDATA;
            end
            if (do_write) begin
                aw_full <= 1'b0; w_full <= 1'b0; bvalid <= 1'b1;
                for (j = 0; j < NT; j = j + 1)
                    if (awaddr == AW'(12'h100 + 4 * j)) th_r[j] <= wdata;
            end else if (bvalid && s_axilite_BREADY) begin
                bvalid <= 1'b0;
            end
            if (s_axilite_ARVALID && s_axilite_ARREADY) begin
                rvalid <= 1'b1; rdata <= read_reg(s_axilite_ARADDR);
            end else if (rvalid && s_axilite_RREADY) begin
                rvalid <= 1'b0;
            end
            frames <= clear ? 32'd0 : frames + {31'd0, frame_in};
            for (j = 0; j < N; j = j + 1)
                cnt[j] <= clear ? 32'd0 : cnt[j] + {31'd0, cnt_inc[j]};
        end
    end
endmodule
