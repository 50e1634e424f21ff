// exitflow exit unit of the generated top: one exit's decision, logits and frame id joined.
//
// Logits of exit head k arrive one per beat (class 0 first) and go, in lockstep, to
// exit_decision (hw/ops/exit_decision) and, with LOGITS = 1, to a small store of whole frames.
// Frame ids of this segment arrive in frame order on i_* (the segment's id FIFO). Once a
// frame's decision, logits and id are all present, the unit emits, each exactly once:
//   r_*: the record {logits, class, fire, id} for the merge (every frame; the merge keeps the
//        exited ones of a non-final exit and every final one);
//   v_*: the verdict for conditional buffer k (1 = exited: drop), non-final exits only;
//   n_*: the id of a continuing frame, into the next segment's id FIFO (non-final exits only).
// Frames leave in the order they arrived, so ids and frames never part company.
//
// Load shedding (SHED = 1): conditional buffer k's shed flags, one per frame in frame order,
// arrive on x_* (non-final exits) and join the decision. A shed frame (x = 1) leaves here: its
// record is kept by the merge (keep bit set) with forced = 1 when its policy would have
// continued, and it sends no verdict (the buffer never stored it) and no next id. With SHED = 1
// every exit's record carries the forced bit above the class, {logits, forced, class, keep, id}
// (the final exit's forced bit is 0), so the merge passes it through as the payload's low bit.
//
// The threshold `th` is a run-time register (AXI-Lite), clamped to [-2^W, 2^W] (every decision
// is the same as with the unclamped value) and registered before it reaches the compare. The
// final exit (FINAL = 1) is the argmax: POLICY 0 with the threshold -2^W, which always fires.
`timescale 1ns/1ps
module exit_unit #(
    parameter integer C = 10,            // classes
    parameter integer W = 16,            // logit width
    parameter integer WL = 16,           // logit width in the record (>= W, sign-extended)
    parameter integer POLICY = 1,        // 0 max-logit, 1 margin (exit_decision)
    parameter integer CW = 4,            // class bits
    parameter integer IDW = 16,          // frame id bits
    parameter integer LOGITS = 1,        // 1: carry the logits in the record
    parameter integer FINAL = 0,         // 1: the final exit (argmax, always fires)
    parameter integer LD = 4,            // frames of logits stored (the decision holds 2)
    parameter integer SHED = 0           // 1: load shedding (x_* shed flags, forced bit)
) (
    input  wire                 ap_clk,
    input  wire                 ap_rst_n,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [31:0]          th,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [W-1:0]         s_tdata,
    input  wire                 s_tvalid,
    output wire                 s_tready,
    input  wire [IDW-1:0]       i_tdata,
    input  wire                 i_tvalid,
    output wire                 i_tready,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire                 x_tdata,   // shed flag (SHED = 1, non-final exits)
    input  wire                 x_tvalid,
    /* verilator lint_on UNUSEDSIGNAL */
    output wire                 x_tready,
    output wire [((LOGITS != 0) ? C * WL : 0) + ((SHED != 0) ? 1 : 0) + CW + IDW:0] r_tdata,
    output wire                 r_tvalid,
    input  wire                 r_tready,
    output wire                 v_tdata,
    output wire                 v_tvalid,
    input  wire                 v_tready,
    output wire [IDW-1:0]       n_tdata,
    output wire                 n_tvalid,
    input  wire                 n_tready
);
    localparam integer PW = (LOGITS != 0) ? C * WL : 0;
    localparam integer FW = (SHED != 0) ? 1 : 0;    // forced bit in the record
    localparam integer RW = PW + FW + CW + 1 + IDW;
    localparam integer XS = (SHED != 0 && FINAL == 0) ? 1 : 0;  // shed flags joined
    localparam signed [31:0] HI = 32'sd1 <<< W;
    localparam signed [31:0] LO = -(32'sd1 <<< W);

    // ---- run-time threshold, clamped and registered ----
    wire signed [31:0] ths = (FINAL != 0) ? LO : th;
    reg  signed [W+1:0] th_q;
    always @(posedge ap_clk) begin
        th_q <= (ths > HI) ? HI[W+1:0] : ((ths < LO) ? LO[W+1:0] : ths[W+1:0]);
    end

    // ---- decision unit and logit store, fed in lockstep ----
    wire l_ready;
    wire d_s_tready;
    assign s_tready = d_s_tready && l_ready;
    wire accept = s_tvalid && s_tready;
    wire [CW:0] d_tdata;
    wire d_tvalid;
    wire retire;
    exit_decision #(
        .C(C), .W(W), .POLICY((FINAL != 0) ? 0 : POLICY), .THRESHOLD(0), .CW(CW), .RUNTIME(1)
    ) u_dec (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .th(th_q),
        .s_tdata(s_tdata), .s_tvalid(s_tvalid && l_ready), .s_tready(d_s_tready),
        .m_tdata(d_tdata), .m_tvalid(d_tvalid), .m_tready(retire)
    );
    wire fire = d_tdata[0];
    wire [CW-1:0] cls = d_tdata[CW:1];
    wire have_x = (XS != 0) ? x_tvalid : 1'b1;
    wire shed = (XS != 0) && x_tdata;
    wire keep = fire || shed;             // the merge keeps the record
    wire forced = shed && !fire;          // the policy would have continued
    wire [FW+CW:0] mid;                   // {forced, class, keep} or {class, fire}
    generate
        if (SHED != 0) begin : g_forced
            assign mid = {forced, cls, keep};
        end else begin : g_plain_mid
            assign mid = {cls, fire};
            /* verilator lint_off UNUSEDSIGNAL */
            wire unused_mid = keep ^ forced;
            /* verilator lint_on UNUSEDSIGNAL */
        end
    endgenerate

    wire have_logits;
    wire [RW-1:0] record;
    generate
        if (LOGITS != 0) begin : g_logits
            localparam integer LA = (LD > 1) ? $clog2(LD) : 1;
            localparam integer LC = $clog2(LD + 1);
            localparam integer XI = (C > 1) ? $clog2(C) : 1;
            reg [C*WL-1:0] lmem [0:LD-1];
            reg [LA-1:0] lwp, lrp;
            reg [LC-1:0] lcount;
            reg [XI-1:0] lidx;
            wire signed [WL-1:0] xl = WL'($signed(s_tdata));  // sign-extended to WL
            wire done_frame = accept && (lidx == XI'(C - 1));
            assign l_ready = (lcount != LC'(LD));
            assign have_logits = (lcount != 0);
            assign record = {lmem[lrp], mid, i_tdata};
            always @(posedge ap_clk) begin
                if (accept) lmem[lwp][lidx * WL +: WL] <= xl;
            end
            always @(posedge ap_clk) begin
                if (!ap_rst_n) begin
                    lwp <= 0; lrp <= 0; lcount <= 0; lidx <= 0;
                end else begin
                    if (accept) lidx <= (lidx == XI'(C - 1)) ? {XI{1'b0}} : lidx + 1'b1;
                    if (done_frame) lwp <= (lwp == LA'(LD - 1)) ? {LA{1'b0}} : lwp + 1'b1;
                    if (retire) lrp <= (lrp == LA'(LD - 1)) ? {LA{1'b0}} : lrp + 1'b1;
                    lcount <= lcount + {{(LC-1){1'b0}}, done_frame} - {{(LC-1){1'b0}}, retire};
                end
            end
        end else begin : g_no_logits
            assign l_ready = 1'b1;
            assign have_logits = 1'b1;
            assign record = {mid, i_tdata};
            /* verilator lint_off UNUSEDSIGNAL */
            wire unused = accept;
            /* verilator lint_on UNUSEDSIGNAL */
        end
    endgenerate

    // ---- join and one-shot broadcast to record, verdict and next-id outputs ----
    wire have = d_tvalid && i_tvalid && have_logits && have_x;
    wire need_v = (FINAL == 0) && !shed;
    wire need_n = (FINAL == 0) && !fire && !shed;
    reg r_done, v_done, n_done;
    assign r_tvalid = have && !r_done;
    assign v_tvalid = have && need_v && !v_done;
    assign n_tvalid = have && need_n && !n_done;
    assign r_tdata = record;
    assign v_tdata = fire;
    assign n_tdata = i_tdata;
    assign retire = have && (r_done || r_tready) && (!need_v || v_done || v_tready)
                    && (!need_n || n_done || n_tready);
    assign i_tready = retire;
    assign x_tready = (XS != 0) && retire;

    always @(posedge ap_clk) begin
        if (!ap_rst_n || retire) begin
            r_done <= 1'b0; v_done <= 1'b0; n_done <= 1'b0;
        end else begin
            if (r_tvalid && r_tready) r_done <= 1'b1;
            if (v_tvalid && v_tready) v_done <= 1'b1;
            if (n_tvalid && n_tready) n_done <= 1'b1;
        end
    end
endmodule
