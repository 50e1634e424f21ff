// exitflow conditional buffer: holds stage k's output frames until exit decision k arrives.
//
// Frames of FRAME_BEATS beats stream in on s_* (the fork after stage k). Decisions, one per frame
// in frame order, enter a VERDICT_DEPTH-deep FIFO on d_* (d_tdata = 1: the frame exited, drop it;
// 0: it continues). The output side takes the head frame's verdict, then drops the frame in one
// cycle once all its beats are stored, or releases its beats on m_* into stage k+1, one per cycle.
//
// Timing is that of exitflow's cycle simulator (docs/simulator.md, "Conditional buffer"), cycle
// for cycle: a beat or verdict accepted in cycle t is usable from t+1; ready depends only on
// registered state (a full buffer stays full in the cycle a beat leaves); a verdict is taken only
// in a cycle after the previous frame has left, and release or drop start the cycle after the
// take, so a released frame costs FRAME_BEATS + 1 cycles.
//
// Storage: DEPTH_FRAMES * FRAME_BEATS words with a registered read (maps to block RAM). The read
// address is the next head, so the head word is always in the read register; a write to the
// address being read is bypassed, because a beat may leave the cycle after it arrived.
//
// Load shedding (SHEDDING = 1; docs/simulator.md, "Load shedding"): in the cycle a frame's first
// beat is accepted, the frame is stored iff the buffer held at most DEPTH - FRAME_BEATS words at
// the start of that cycle (the registered count); otherwise it is shed: its beats are accepted
// and discarded, and no verdict ever comes for it (d_* carries stored frames' verdicts only). The
// frame's flag (1 = shed) leaves on f_* in the cycle its first beat is accepted, so the first
// beat waits for f_tready; other beats are always accepted (a stored frame finds room by the
// rule). With SHEDDING = 0, f_* is idle and the buffer is the plain one above.
`timescale 1ns/1ps
module cond_buffer #(
    parameter integer DW = 32,
    parameter integer FRAME_BEATS = 4,
    parameter integer DEPTH_FRAMES = 2,
    parameter integer VERDICT_DEPTH = 2,
    parameter integer SHEDDING = 0
) (
    input  wire          ap_clk,
    input  wire          ap_rst_n,
    input  wire [DW-1:0] s_tdata,
    input  wire          s_tvalid,
    output wire          s_tready,
    input  wire          d_tdata,
    input  wire          d_tvalid,
    output wire          d_tready,
    output wire [DW-1:0] m_tdata,
    output wire          m_tvalid,
    input  wire          m_tready,
    output wire          f_tdata,            // 1: the frame was shed (SHEDDING = 1)
    output wire          f_tvalid,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire          f_tready            // unused with SHEDDING = 0
    /* verilator lint_on UNUSEDSIGNAL */
);
    localparam integer DEPTH = FRAME_BEATS * DEPTH_FRAMES;
    localparam integer AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;        // address
    localparam integer CW = $clog2(DEPTH + 1);                       // words stored: 0..DEPTH
    localparam integer LW = $clog2(FRAME_BEATS + 1);                 // beats of a frame left
    localparam integer VAW = (VERDICT_DEPTH > 1) ? $clog2(VERDICT_DEPTH) : 1;
    localparam integer VCW = $clog2(VERDICT_DEPTH + 1);
    localparam [CW-1:0] DEPTH_W = DEPTH[CW-1:0];
    localparam [CW-1:0] FRAME_W = FRAME_BEATS[CW-1:0];
    localparam [LW-1:0] FRAME_L = FRAME_BEATS[LW-1:0];
    localparam [AW:0] DEPTH_A = DEPTH[AW:0];
    localparam [VCW-1:0] VDEPTH_W = VERDICT_DEPTH[VCW-1:0];

    // ---- verdict FIFO (decision unit -> buffer) ----
    reg             vmem [0:VERDICT_DEPTH-1];
    reg [VAW-1:0]   vwp, vrp;
    reg [VCW-1:0]   vcount;
    assign d_tready = (vcount < VDEPTH_W);
    wire d_fire = d_tvalid && d_tready;

    // ---- frame storage ----
    reg [DW-1:0] mem [0:DEPTH-1];
    reg [DW-1:0]  rdata;                 // mem[rp], read one cycle ahead
    reg [DW-1:0]  wdata_q;               // bypass: the word written to the head address
    reg           bypass;
    reg [AW-1:0]  wp, rp;
    reg [CW-1:0]  count;
    reg [LW-1:0]  left;                  // beats of the head frame still to release
    reg           have_dec, dec_drop;    // head frame's verdict, once taken

    wire s_fire;                         // a beat is accepted (and stored)
    generate
        // The plain buffer first, written as before shedding existed: yosys 0.23 maps the same
        // logic to 185 LUTs instead of 145-153 when its accept goes through a shared s_acc wire
        // (8-bit, 784 beats, 12 frames), which tests/test_ops_estimates.py caught.
        if (SHEDDING == 0) begin : g_plain
            assign s_tready = (count < DEPTH_W);
            assign s_fire = s_tvalid && (count < DEPTH_W);
            assign f_tvalid = 1'b0;
            assign f_tdata = 1'b0;
        end else begin : g_shed
            wire s_acc = s_tvalid && s_tready;   // a beat is accepted
            reg [LW-1:0] in_beat;            // beat of the arriving frame
            reg          in_store;           // the arriving frame is stored
            wire first = (in_beat == 0);
            wire admit = (count <= DEPTH_W - FRAME_W);
            assign s_tready = !first || f_tready;
            assign f_tvalid = s_tvalid && first;
            assign f_tdata = !admit;
            assign s_fire = s_acc && (first ? admit : in_store);
            always @(posedge ap_clk) begin
                if (!ap_rst_n) begin
                    in_beat <= 0; in_store <= 1'b0;
                end else if (s_acc) begin
                    in_beat <= (in_beat == FRAME_L - 1'b1) ? {LW{1'b0}} : in_beat + 1'b1;
                    if (first) in_store <= admit;
                end
            end
        end
    endgenerate

    wire take = !have_dec && (vcount != 0);
    wire releasing = have_dec && !dec_drop && (count != 0);
    assign m_tvalid = releasing;
    assign m_tdata = bypass ? wdata_q : rdata;
    wire m_fire = releasing && m_tready;
    wire drop_all = have_dec && dec_drop && (count >= FRAME_W);
    wire frame_done = drop_all || (m_fire && left == 1);
    wire [AW:0] step = drop_all ? FRAME_BEATS[AW:0] : {{AW{1'b0}}, m_fire};
    wire [AW:0] rp_sum = {1'b0, rp} + step;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [AW:0] rp_back = rp_sum - DEPTH_A;  // top bit is 0 whenever it is used
    /* verilator lint_on UNUSEDSIGNAL */
    wire [AW-1:0] rp_next = (rp_sum >= DEPTH_A) ? rp_back[AW-1:0] : rp_sum[AW-1:0];
    wire [AW-1:0] wp_next = (wp == DEPTH_A[AW-1:0] - 1'b1 || DEPTH == 1) ? {AW{1'b0}} : wp + 1'b1;
    wire [CW-1:0] consumed = drop_all ? FRAME_W : {{(CW-1){1'b0}}, m_fire};

    // storage kept apart from the control registers so synthesis sees a plain RAM
    always @(posedge ap_clk) begin
        if (s_fire) mem[wp] <= s_tdata;
        rdata <= mem[rp_next];
        wdata_q <= s_tdata;
    end

    always @(posedge ap_clk) begin
        if (d_fire) vmem[vwp] <= d_tdata;
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            wp <= 0; rp <= 0; count <= 0; bypass <= 1'b0;
            left <= FRAME_L;
            have_dec <= 1'b0; dec_drop <= 1'b0;
            vwp <= 0; vrp <= 0; vcount <= 0;
        end else begin
            bypass <= s_fire && (wp == rp_next);
            if (s_fire) wp <= wp_next;
            count <= count + {{(CW-1){1'b0}}, s_fire} - consumed;
            rp <= rp_next;
            if (d_fire) vwp <= (vwp == VERDICT_DEPTH[VAW-1:0] - 1'b1 || VERDICT_DEPTH == 1) ? {VAW{1'b0}} : vwp + 1'b1;
            if (take) vrp <= (vrp == VERDICT_DEPTH[VAW-1:0] - 1'b1 || VERDICT_DEPTH == 1) ? {VAW{1'b0}} : vrp + 1'b1;
            vcount <= vcount + {{(VCW-1){1'b0}}, d_fire} - {{(VCW-1){1'b0}}, take};
            if (take) begin
                have_dec <= 1'b1;
                dec_drop <= vmem[vrp];
            end else if (frame_done) begin
                have_dec <= 1'b0;
                left <= FRAME_L;
            end else if (m_fire) begin
                left <= left - 1'b1;
            end
        end
    end
endmodule
