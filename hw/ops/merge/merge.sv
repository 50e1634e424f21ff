// exitflow output merge: one stream of per-frame results from the decision units of every exit.
//
// Input k (k = 0 .. N-1, exit k; N-1 is the final exit) carries {payload, class, fire, frame_id}
// words: IDW bits of frame id (LSB), the fire bit, CW bits of class, PW bits of payload (logits,
// 0 for none). Non-final inputs keep only the records whose fire bit is set (an exited frame) and
// drop the others (a continuing frame: the buffer releases it, a later exit reports it); the
// final input keeps every record. Kept records leave on m_* as {payload, class, forced, exit,
// frame_id}, forced = 0 (reserved for load shedding).
//
// Order is the simulator's (docs/simulator.md, "merge"): one shared queue in arrival order,
// records accepted in the same cycle in exit order, one record out per cycle, a record accepted
// in cycle t available from t+1. The queue is bounded (DEPTH records, a power of two): every
// input is ready while at least N slots are free (registered, independent of tvalid), so a full
// queue back-pressures every decision unit instead of losing a record. The simulator's merge
// never back-pressures; the two agree while the queue stays below DEPTH - N + 1 records.
`timescale 1ns/1ps
module merge #(
    parameter integer N = 2,             // exits
    parameter integer IDW = 16,          // frame id bits
    parameter integer CW = 4,            // class bits
    parameter integer PW = 0,            // payload bits carried through (logits)
    parameter integer DEPTH = 8          // queue depth in records, a power of two >= N
) (
    input  wire                                ap_clk,
    input  wire                                ap_rst_n,
    input  wire [N*(IDW+1+CW+PW)-1:0]          s_tdata,
    input  wire [N-1:0]                        s_tvalid,
    output wire [N-1:0]                        s_tready,
    output wire [PW+CW+1+EW+IDW-1:0]           m_tdata,
    output wire                                m_tvalid,
    input  wire                                m_tready
);
    localparam integer EW = (N > 1) ? $clog2(N) : 1;
    localparam integer IW = IDW + 1 + CW + PW;          // input record
    localparam integer OW = PW + CW + 1 + EW + IDW;     // output record
    localparam integer AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam integer QW = $clog2(DEPTH + 1);
    localparam [QW-1:0] ROOM = QW'(DEPTH - N);

    generate
        if ((DEPTH & (DEPTH - 1)) != 0 || DEPTH < N) begin : g_bad_depth
            $error("merge: DEPTH must be a power of two and at least N");
        end
    endgenerate

    reg [OW-1:0] q [0:DEPTH-1];
    reg [AW-1:0] wp, rp;
    reg [QW-1:0] count;

    assign s_tready = {N{count <= ROOM}};
    assign m_tvalid = (count != 0);
    assign m_tdata = q[rp];
    wire m_fire = m_tvalid && m_tready;

    // records kept this cycle, their queue slots (in exit order) and how many
    reg [N-1:0]  keep;
    reg [AW-1:0] slot [0:N-1];
    reg [QW-1:0] kept;
    integer k;
    always @(*) begin
        kept = 0;
        for (k = 0; k < N; k = k + 1) begin
            keep[k] = s_tvalid[k] && s_tready[k] && (k == N - 1 || s_tdata[k*IW + IDW]);
            slot[k] = wp + kept[AW-1:0];
            kept = kept + {{(QW-1){1'b0}}, keep[k]};
        end
    end

    integer j;
    always @(posedge ap_clk) begin
        for (j = 0; j < N; j = j + 1) begin
            if (keep[j]) q[slot[j]] <= {s_tdata[j*IW + IW - 1 -: PW + CW], 1'b0, EW'(j),
                                        s_tdata[j*IW +: IDW]};
        end
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            wp <= 0; rp <= 0; count <= 0;
        end else begin
            wp <= wp + kept[AW-1:0];
            if (m_fire) rp <= rp + 1'b1;
            count <= count + kept - {{(QW-1){1'b0}}, m_fire};
        end
    end
endmodule
