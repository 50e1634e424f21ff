// exitflow conditional buffer: holds stage k's output frames until exit decision k arrives.
//
// Frames of FRAME_BEATS beats stream in on s_*; one decision per frame, in frame order, on d_*
// (d_tdata = 1: the frame exited, drop it; 0: it continues). A continuing frame is released on
// m_* into stage k+1; an exited frame is dropped (in one cycle once it is fully stored, else beat
// by beat as it arrives), so exited frames really leave the pipeline. Capacity: DEPTH_FRAMES
// frames. Order is preserved; no frame is lost or duplicated whatever the back-pressure.
`timescale 1ns/1ps
module cond_buffer #(
    parameter integer DW = 32,
    parameter integer FRAME_BEATS = 4,
    parameter integer DEPTH_FRAMES = 2,
    parameter integer AW = 16               // address/count width
) (
    input  wire          clk,
    input  wire          rst_n,
    input  wire [DW-1:0] s_tdata,
    input  wire          s_tvalid,
    output wire          s_tready,
    input  wire          d_tdata,           // 1: drop (exited), 0: release (continue)
    input  wire          d_tvalid,
    output wire          d_tready,
    output wire [DW-1:0] m_tdata,
    output wire          m_tvalid,
    input  wire          m_tready
);
    localparam integer DEPTH = FRAME_BEATS * DEPTH_FRAMES;
    reg [DW-1:0] mem [0:DEPTH-1];
    reg [AW-1:0] wp, rp, count;        // words stored = count
    reg [AW-1:0] head_left;            // beats of the head frame still to release or drop
    reg          have_dec, dec_drop;   // decision of the head frame, once taken

    wire s_fire = s_tvalid && s_tready;
    assign s_tready = (count < DEPTH);
    assign d_tready = !have_dec;
    wire d_fire = d_tvalid && d_tready;

    wire releasing = have_dec && !dec_drop && (count != 0);
    assign m_tvalid = releasing;
    assign m_tdata = mem[rp];
    wire m_fire = releasing && m_tready;
    // dropping: all remaining beats present -> drop them at once; else one stored beat per cycle
    wire drop_all = have_dec && dec_drop && (count >= head_left);
    wire drop_one = have_dec && dec_drop && !drop_all && (count != 0);
    wire [AW-1:0] consumed = drop_all ? head_left : ((m_fire || drop_one) ? 1 : 0);

    function [AW-1:0] wrap(input [AW:0] a);
        wrap = (a >= DEPTH) ? a - DEPTH : a;
    endfunction

    always @(posedge clk) begin
        if (!rst_n) begin
            wp <= 0; rp <= 0; count <= 0;
            head_left <= FRAME_BEATS;
            have_dec <= 1'b0; dec_drop <= 1'b0;
        end else begin
            if (s_fire) begin
                mem[wp] <= s_tdata;
                wp <= wrap(wp + 1);
            end
            count <= count + (s_fire ? 1 : 0) - consumed;
            rp <= wrap(rp + consumed);
            if (d_fire) begin
                have_dec <= 1'b1;
                dec_drop <= d_tdata;
            end else if (consumed != 0 && consumed == head_left) begin
                have_dec <= 1'b0;
                head_left <= FRAME_BEATS;
            end else if (consumed != 0) begin
                head_left <= head_left - consumed;
            end
        end
    end
endmodule
