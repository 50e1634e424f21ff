// exitflow exit-decision unit: thresholding of one exit head's integer logits.
//
// Logits arrive one per beat on an AXI-stream, class 0 first. After the last class the unit emits
// one decision word {class, fire}: class = argmax (lowest index wins a tie, as quant.policies),
// fire = (max >= THRESHOLD) for POLICY 0 (max-logit) or (top1 - top2 >= THRESHOLD) for POLICY 1
// (margin; top2 is the largest of the other classes, so a tied maximum gives margin 0).
// No softmax, no divider: one comparator pair and one subtractor. II = C cycles per frame,
// decision valid one cycle after the last logit beat.
`timescale 1ns/1ps
module exit_decision #(
    parameter integer C = 10,           // number of classes
    parameter integer W = 16,           // logit width (two's complement), at most 31
    parameter integer POLICY = 1,       // 0: max-logit, 1: top-1 minus top-2 margin
    parameter integer THRESHOLD = 0,    // integer threshold on the logit lattice
    parameter integer SINGLE_MARGIN = 0,// margin reported when C == 1 (no second class)
    parameter integer CW = 8            // class index width
) (
    input  wire          clk,
    input  wire          rst_n,
    input  wire [W-1:0]  s_tdata,
    input  wire          s_tvalid,
    output wire          s_tready,
    output wire [CW:0]   m_tdata,       // {class[CW-1:0], fire}
    output reg           m_tvalid,
    input  wire          m_tready
);
    reg  [CW-1:0]        idx;
    reg  signed [W-1:0]  best, second;
    reg  [CW-1:0]        best_idx;
    reg  [CW-1:0]        out_class;
    reg                  out_fire;

    wire signed [W-1:0] x = s_tdata;
    wire accept = s_tvalid && s_tready;
    wire first = (idx == 0);
    wire last = (idx == C - 1);
    // running top-1 / top-2 including the beat being accepted
    wire take_best = first || (x > best);
    wire signed [W-1:0] nbest = take_best ? x : best;
    // second is undefined after the first beat; `first` of the next beat overrides it
    wire signed [W-1:0] nsecond = take_best ? best : ((idx == 1 || x > second) ? x : second);
    wire [CW-1:0] nbest_idx = take_best ? idx : best_idx;
    wire signed [W:0] margin = (C == 1) ? SINGLE_MARGIN : ({nbest[W-1], nbest} - {nsecond[W-1], nsecond});
    wire fire = (POLICY == 0) ? (nbest >= THRESHOLD) : (margin >= THRESHOLD);

    assign s_tready = !m_tvalid || m_tready;
    assign m_tdata = {out_class, out_fire};

    always @(posedge clk) begin
        if (!rst_n) begin
            idx <= 0;
            m_tvalid <= 1'b0;
            best <= 0;
            second <= 0;
            best_idx <= 0;
            out_class <= 0;
            out_fire <= 1'b0;
        end else begin
            if (m_tvalid && m_tready) m_tvalid <= 1'b0;
            if (accept) begin
                best <= nbest;
                second <= nsecond;
                best_idx <= nbest_idx;
                if (last) begin
                    idx <= 0;
                    out_class <= nbest_idx;
                    out_fire <= fire;
                    m_tvalid <= 1'b1;
                end else begin
                    idx <= idx + 1'b1;
                end
            end
        end
    end
endmodule
