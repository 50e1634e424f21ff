// Test design for the stream driver: joins two streams, y = a + b, one register stage.
// Deliberately simple so that its reference (Python integer addition) is independent.
module join_add #(parameter int WA = 100, parameter int WB = 8) (
  input  logic ap_clk, input logic ap_rst_n,
  input  logic [WA-1:0] a_tdata, input logic a_tvalid, output logic a_tready,
  input  logic [WB-1:0] b_tdata, input logic b_tvalid, output logic b_tready,
  input  logic [WB-1:0] bias,
  output logic [WA:0] y_tdata, output logic y_tvalid, input logic y_tready
);
  wire take = a_tvalid && b_tvalid && (!y_tvalid || y_tready);
  assign a_tready = take;
  assign b_tready = take;
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) y_tvalid <= 0;
    else if (take) begin y_tdata <= a_tdata + b_tdata + bias; y_tvalid <= 1; end
    else if (y_tready) y_tvalid <= 0;
  end
endmodule
