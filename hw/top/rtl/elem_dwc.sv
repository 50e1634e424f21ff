// exitflow element-wise width converter between two partitions of the generated top.
//
// FINN packs IN_E elements of EB bits per input word (element 0 in the least significant bits,
// TDATA padded to IW bits) and the next partition reads OUT_E per word (padded to OW). The
// converter splits each input word into chunks of G = gcd(IN_E, OUT_E) elements and gathers
// NO = OUT_E / G chunks per output word, so it moves G elements per cycle: never slower than the
// narrower side. Element order is kept; the bits of an element are never reinterpreted.
// Ready depends on registered state and the output handshake only.
`timescale 1ns/1ps
module elem_dwc #(
    parameter integer EB = 4,
    parameter integer IN_E = 2,
    parameter integer OUT_E = 1,
    parameter integer G = 1,
    parameter integer IW = 8,
    parameter integer OW = 8
) (
    input  wire          ap_clk,
    input  wire          ap_rst_n,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [IW-1:0] s_tdata,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire          s_tvalid,
    output wire          s_tready,
    output wire [OW-1:0] m_tdata,
    output wire          m_tvalid,
    input  wire          m_tready
);
    localparam integer NI = IN_E / G;           // chunks per input word
    localparam integer NO = OUT_E / G;          // chunks per output word
    localparam integer CB = G * EB;             // chunk bits
    localparam integer IB = IN_E * EB;
    localparam integer OB = OUT_E * EB;
    localparam integer IC = (NI > 1) ? $clog2(NI) : 1;
    localparam integer OC = (NO > 1) ? $clog2(NO) : 1;

    // split side: the held input word and the index of its next chunk
    reg [IB-1:0] ibuf;
    reg          ifull;
    reg [IC-1:0] ci;
    wire [CB-1:0] chunk = ibuf[ci * CB +: CB];
    // gather side: the output word being assembled
    reg [OB-1:0] obuf;
    reg          ofull;
    reg [OC-1:0] co;

    assign m_tvalid = ofull;
    assign m_tdata = OW'(obuf);
    wire m_fire = ofull && m_tready;
    wire c_ready = !ofull || m_fire;
    wire c_fire = ifull && c_ready;
    wire c_last = (ci == IC'(NI - 1));
    assign s_tready = !ifull || (c_fire && c_last);
    wire s_fire = s_tvalid && s_tready;
    wire [OC-1:0] pos = m_fire ? {OC{1'b0}} : co;

    always @(posedge ap_clk) begin
        if (s_fire) ibuf <= s_tdata[IB-1:0];
        if (c_fire) obuf[pos * CB +: CB] <= chunk;
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            ifull <= 1'b0; ci <= 0; ofull <= 1'b0; co <= 0;
        end else begin
            if (s_fire) begin
                ifull <= 1'b1; ci <= 0;
            end else if (c_fire) begin
                if (c_last) ifull <= 1'b0;
                else ci <= ci + 1'b1;
            end
            if (c_fire) begin
                ofull <= (pos == OC'(NO - 1));
                co <= (pos == OC'(NO - 1)) ? {OC{1'b0}} : pos + 1'b1;
            end else if (m_fire) begin
                ofull <= 1'b0;
                co <= 0;
            end
        end
    end
endmodule
