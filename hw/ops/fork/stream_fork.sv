// exitflow stream fork: one AXI stream to two consumers (exit head k and conditional buffer k).
//
// LOCKSTEP = 1 (default, the simulator's fork, docs/simulator.md "FIFO"): a beat leaves to both
// outputs in the same cycle, when both are ready; no storage, no latency. Each output's tvalid is
// qualified by the other output's tready, so both consumers must have a tready that does not
// depend on their tvalid (true of FINN's FIFOs and of exitflow's blocks), else a loop forms.
// LOCKSTEP = 0 (AXI broadcaster): each output takes the beat when it is ready and is then masked
// until the other has it too, so one side runs ahead by at most one beat and tvalid never depends
// on a tready; a beat that leaves on different cycles is not what the simulator models.
`timescale 1ns/1ps
module stream_fork #(
    parameter integer DW = 32,
    parameter integer LOCKSTEP = 1
) (
    input  wire          ap_clk,
    input  wire          ap_rst_n,
    input  wire [DW-1:0] s_tdata,
    input  wire          s_tvalid,
    output wire          s_tready,
    output wire [DW-1:0] m0_tdata,
    output wire          m0_tvalid,
    input  wire          m0_tready,
    output wire [DW-1:0] m1_tdata,
    output wire          m1_tvalid,
    input  wire          m1_tready
);
    assign m0_tdata = s_tdata;
    assign m1_tdata = s_tdata;
    generate
        if (LOCKSTEP != 0) begin : g_lockstep
            assign s_tready = m0_tready && m1_tready;
            assign m0_tvalid = s_tvalid && m1_tready;
            assign m1_tvalid = s_tvalid && m0_tready;
            /* verilator lint_off UNUSEDSIGNAL */
            wire unused = ap_clk ^ ap_rst_n;  // combinational: no state
            /* verilator lint_on UNUSEDSIGNAL */
        end else begin : g_broadcast
            reg done0, done1;  // this output already took the current beat
            assign m0_tvalid = s_tvalid && !done0;
            assign m1_tvalid = s_tvalid && !done1;
            assign s_tready = (m0_tready || done0) && (m1_tready || done1);
            wire retire = s_tvalid && s_tready;
            always @(posedge ap_clk) begin
                if (!ap_rst_n || retire) begin
                    done0 <= 1'b0;
                    done1 <= 1'b0;
                end else begin
                    if (m0_tvalid && m0_tready) done0 <= 1'b1;
                    if (m1_tvalid && m1_tready) done1 <= 1'b1;
                end
            end
        end
    endgenerate
endmodule
