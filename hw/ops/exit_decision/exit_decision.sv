// exitflow exit-decision unit: thresholding of one exit head's integer logits.
//
// Logits arrive one per beat on s_*, class 0 first. For every C beats the unit emits one word
// {class, fire} on m_*: class = argmax (lowest index wins a tie, as exitflow.core.policies),
// fire = (max >= THRESHOLD) for POLICY 0 (max-logit) or (top1 - top2 >= THRESHOLD) for POLICY 1
// (margin; top2 is the largest of the other classes, so a tied maximum gives margin 0; with
// C == 1 the margin is SINGLE_MARGIN). No softmax, no divider.
//
// Two stages: an accumulator keeps the running top-1/top-2 of the frame being read; once the
// frame is complete, the threshold compare loads the output register (the compare and the
// subtract sit in their own cycle, off the accumulator's path). Timing is the simulator's node
// with I = C, O = 1, ii = C, latency C + 1 (docs/simulator.md, "Node"), cycle for cycle for
// C >= 2: the decision is written no earlier than 2 cycles after the last logit, and no earlier
// than C cycles after the previous decision (the output resumes at its pace after a stall);
// at most two frames are in flight (the first logit of frame f waits until frame f-2's decision
// has been written in an earlier cycle). Ready depends on registered state only.
//
// Threshold: the parameter THRESHOLD, or with RUNTIME = 1 the input `th` (a run-time register,
// e.g. the generated top's AXI-Lite block, whose reset value is the calibrated THRESHOLD), so a
// driver changes the policy without a rebuild. `th` must lie within [-2^W, 2^W] (the top clamps).
`timescale 1ns/1ps
module exit_decision #(
    parameter integer C = 10,            // number of classes
    parameter integer W = 16,            // logit width (two's complement), at most 30
    parameter integer POLICY = 1,        // 0: max-logit, 1: top-1 minus top-2 margin
    parameter integer THRESHOLD = 0,     // integer threshold, within [-2^W, 2^W]
    parameter integer SINGLE_MARGIN = 0, // margin reported when C == 1 (no second class)
    parameter integer CW = 8,            // class index width, >= clog2(C)
    parameter integer RUNTIME = 0        // 1: compare against `th` instead of THRESHOLD
) (
    input  wire          ap_clk,
    input  wire          ap_rst_n,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [W+1:0]  th,             // run-time threshold (RUNTIME = 1), two's complement
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [W-1:0]  s_tdata,
    input  wire          s_tvalid,
    output wire          s_tready,
    output wire [CW:0]   m_tdata,        // {class[CW-1:0], fire}
    output wire          m_tvalid,
    input  wire          m_tready
);
    localparam integer PW = $clog2(C + 1);                      // pacing counter: 0..C
    localparam signed [W+1:0] TH_P = THRESHOLD[W+1:0];
    wire signed [W+1:0] TH = (RUNTIME != 0) ? $signed(th) : TH_P;
    localparam signed [W+1:0] SM = SINGLE_MARGIN[W+1:0];
    localparam [CW-1:0] LAST = C[CW-1:0] - 1'b1;
    localparam [PW-1:0] C_P = C[PW-1:0];

    // ---- accumulator: running top-1 / top-2 of the frame being read ----
    reg  [CW-1:0]        idx;            // next beat's class
    reg  signed [W-1:0]  best, second;
    reg  [CW-1:0]        best_idx;
    reg                  a_full;         // a complete frame waits in the accumulator
    // ---- output register ----
    reg  [CW-1:0]        out_class;
    reg                  out_fire;
    reg                  out_full;
    reg  [PW-1:0]        since;          // cycles since the last decision left, saturating at C

    wire signed [W-1:0] x = s_tdata;
    wire first = (idx == 0);
    wire last = (idx == LAST);
    wire take_best = first || (x > best);
    wire signed [W-1:0] nbest = take_best ? x : best;
    // second is undefined after the first beat; idx == 1 overrides it
    wire signed [W-1:0] nsecond = take_best ? best : ((idx == 1 || x > second) ? x : second);
    wire [CW-1:0] nbest_idx = take_best ? idx : best_idx;

    assign m_tvalid = out_full && (since >= C_P);
    wire m_fire = m_tvalid && m_tready;
    wire xfer = a_full && (!out_full || m_fire);       // complete frame -> output register
    // the first logit of a frame only while fewer than two frames await their decision
    assign s_tready = !first || !(a_full && out_full);
    wire accept = s_tvalid && s_tready;

    wire signed [W+1:0] top1 = {{2{best[W-1]}}, best};
    wire signed [W+1:0] top2 = {{2{second[W-1]}}, second};
    wire signed [W+1:0] margin = (C == 1) ? SM : top1 - top2;
    wire fire = (POLICY == 0) ? (top1 >= TH) : (margin >= TH);

    assign m_tdata = {out_class, out_fire};

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            idx <= 0;
            a_full <= 1'b0;
            out_full <= 1'b0;
            since <= C_P;
            best <= 0;
            second <= 0;
            best_idx <= 0;
            out_class <= 0;
            out_fire <= 1'b0;
        end else begin
            if (m_fire) since <= 1;
            else if (since < C_P) since <= since + 1'b1;
            if (xfer) begin
                out_class <= best_idx;
                out_fire <= fire;
                out_full <= 1'b1;
            end else if (m_fire) begin
                out_full <= 1'b0;
            end
            if (accept) begin
                best <= nbest;
                second <= nsecond;
                best_idx <= nbest_idx;
                idx <= last ? 0 : idx + 1'b1;
            end
            if (accept && last) a_full <= 1'b1;
            else if (xfer) a_full <= 1'b0;
        end
    end
endmodule
