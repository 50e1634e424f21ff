// exitflow_maxpool: RTL backend of FINN's Pool layer for Function=MaxPool.
//
// It consumes the stream of a depthwise ConvolutionInputGenerator (FINN's SWG with depthwise=1
// and SIMD = PE): per output pixel and channel fold, KK consecutive beats hold the KK window
// elements of PE channels. It emits one beat (the lane-wise maximum) per KK input beats, so the
// window geometry (kernel, stride, padding, odd sizes) stays in FINN's SWG and this core only
// reduces. Lane i occupies bits [i*W +: W], element 0 in the LSBs (FINN's packing).
//
// Throughput: one input beat per cycle; the output register is a plain pipeline stage
// (in_ready = !out_valid || out_ready), so a stalled consumer stalls the producer at once and
// nothing is held but the running maximum and the output register.
//
// Written in the SystemVerilog subset yosys 0.23 also reads (integer parameters, generate
// loops), so the resource estimates can be fitted to synth_xilinx of this very file.
module exitflow_maxpool #(
	parameter integer PE     = 1,  // channels per beat
	parameter integer W      = 4,  // bits per element
	parameter integer KK     = 4,  // window elements per output (kernel height * kernel width)
	parameter integer SIGNED = 0   // 1: elements are two's complement
)(
	input	logic  clk,
	input	logic  rst_n,

	input	logic [PE*W-1:0]  in_tdata,
	input	logic  in_tvalid,
	output	logic  in_tready,

	output	logic [PE*W-1:0]  out_tdata,
	output	logic  out_tvalid,
	input	logic  out_tready
);

	localparam integer CW = KK > 1 ? $clog2(KK) : 1;
	localparam logic [CW-1:0] LAST = CW'(KK - 1);
	// two's complement order is unsigned order with the sign bit inverted
	localparam logic [W-1:0]  FLIP = W'(SIGNED != 0) << (W - 1);

	// only the control state is reset: Acc is ignored at a window start and OData while !OValid
	logic [CW-1:0]    Cnt;    // window element of the next input beat
	logic [PE*W-1:0]  Acc;    // running maximum of the window so far
	logic [PE*W-1:0]  OData;
	logic  OValid;

	// the maximum of the current beat and the window so far (the beat alone at a window start)
	logic [PE*W-1:0]  nxt;
	wire  first = Cnt == 0;
	for (genvar i = 0; i < PE; i++) begin : genLane
		wire [W-1:0]  a = Acc[i*W +: W];
		wire [W-1:0]  b = in_tdata[i*W +: W];
		wire  b_larger = (b ^ FLIP) > (a ^ FLIP);
		assign nxt[i*W +: W] = first || b_larger ? b : a;
	end : genLane

	wire  take = in_tvalid && in_tready;
	wire  last = Cnt == LAST;

	assign in_tready  = !OValid || out_tready;
	assign out_tdata  = OData;
	assign out_tvalid = OValid;

	always_ff @(posedge clk) begin
		if (!rst_n) begin
			Cnt <= '0;
			OValid <= 0;
		end
		else begin
			if (out_tready)  OValid <= 0;
			if (take) begin
				Acc <= nxt;
				Cnt <= last ? '0 : Cnt + 1;
				if (last) begin
					OData  <= nxt;
					OValid <= 1;
				end
			end
		end
	end

endmodule : exitflow_maxpool
