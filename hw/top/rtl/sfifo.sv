// exitflow stream FIFO for the generated top: DEPTH words (any depth >= 1), first word out.
//
// Used between partitions (depths from the simulator's sizing or the hardware description) and
// for the per-segment frame-id FIFOs. s_tready = not full and m_tvalid = not empty depend on
// registered state only, so a lockstep stream_fork may feed it. A word written in cycle t can
// leave from t+1 (no fall-through), as the simulator's FIFO.
`timescale 1ns/1ps
module sfifo #(
    parameter integer DW = 8,
    parameter integer DEPTH = 2
) (
    input  wire          ap_clk,
    input  wire          ap_rst_n,
    input  wire [DW-1:0] s_tdata,
    input  wire          s_tvalid,
    output wire          s_tready,
    output wire [DW-1:0] m_tdata,
    output wire          m_tvalid,
    input  wire          m_tready
);
    localparam integer AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam integer CNTW = $clog2(DEPTH + 1);
    localparam [CNTW-1:0] FULL = DEPTH[CNTW-1:0];
    localparam [AW-1:0] LAST = AW'(DEPTH - 1);

    reg [DW-1:0] mem [0:DEPTH-1];
    reg [AW-1:0] wp, rp;
    reg [CNTW-1:0] count;

    assign s_tready = (count != FULL);
    assign m_tvalid = (count != 0);
    assign m_tdata = mem[rp];
    wire push = s_tvalid && s_tready;
    wire pop = m_tvalid && m_tready;

    always @(posedge ap_clk) begin
        if (push) mem[wp] <= s_tdata;
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            wp <= 0; rp <= 0; count <= 0;
        end else begin
            if (push) wp <= (wp == LAST) ? {AW{1'b0}} : wp + 1'b1;
            if (pop) rp <= (rp == LAST) ? {AW{1'b0}} : rp + 1'b1;
            count <= count + {{(CNTW-1){1'b0}}, push} - {{(CNTW-1){1'b0}}, pop};
        end
    end
endmodule
