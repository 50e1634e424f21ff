"""The Verilog shell that puts the generated top into a Vivado block design.

Vivado's block designs take an RTL module as a cell (a module reference) only when its file is
Verilog or VHDL, and infer bus interfaces from X_INTERFACE_INFO attributes. The shell is that
file: a Verilog-2001 module around the SystemVerilog top that
- widens the input and output streams to what an AXI DMA carries (8, 16, ... 1024 bits; the top's
  input word sits in the low bits of a DMA word, a record in the low bits of an output word),
- adds TLAST to the output stream, which the DMA's S2MM channel needs to end a transfer: after
  every PACKET_RECORDS-th record (reset 1; 0 counts as 1),
- implements PACKET_RECORDS at AXI-Lite address 0x800 beside the top's registers (it watches
  the top's write responses and answers reads of 0x800 in place of the top, which reads 0
  there), and
- declares ap_clk, ap_rst_n, s_axis_in, m_axis_out and s_axilite as interfaces.

`parse_ports` reads a module's port list (ANSI style, as the generator and the shell write it)
so that the dry run can check every connection against the real files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exitflow.core.errors import ConfigError

__all__ = [
    "PACKET_RECORDS",
    "Port",
    "ShellSpec",
    "dma_width",
    "instance_connections",
    "parse_interfaces",
    "parse_ports",
    "shell_verilog",
]

PACKET_RECORDS = 0x800  # AXI-Lite address of the shell's TLAST period register
DMA_WIDTHS = (8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class Port:
    """One port of a module: direction and width in bits."""

    name: str
    direction: str
    width: int


@dataclass(frozen=True)
class ShellSpec:
    """What the shell wraps: the top's name, its stream widths and AXI-Lite address width."""

    top: str
    in_width: int
    out_width: int
    axil_addr_bits: int = 12

    @property
    def module(self) -> str:
        return f"{self.top}_shell"

    @property
    def dma_in(self) -> int:
        return dma_width(self.in_width)

    @property
    def dma_out(self) -> int:
        return dma_width(self.out_width)


def dma_width(bits: int) -> int:
    """The narrowest AXI DMA stream width holding `bits` (ConfigError above 1024)."""
    for w in DMA_WIDTHS:
        if w >= bits:
            return w
    raise ConfigError(
        f"a {bits}-bit stream word is wider than an AXI DMA carries (1024 bits): generate the "
        "top without logits in the records (generate_top(logits=False)) or with fewer classes"
    )


_AXIL: list[tuple[str, str, int | str]] = [
    ("AWADDR", "input", "A"), ("AWVALID", "input", 1), ("AWREADY", "output", 1),
    ("WDATA", "input", 32), ("WSTRB", "input", 4), ("WVALID", "input", 1),
    ("WREADY", "output", 1), ("BRESP", "output", 2), ("BVALID", "output", 1),
    ("BREADY", "input", 1), ("ARADDR", "input", "A"), ("ARVALID", "input", 1),
    ("ARREADY", "output", 1), ("RDATA", "output", 32), ("RRESP", "output", 2),
    ("RVALID", "output", 1), ("RREADY", "input", 1),
]  # fmt: skip


def _decl(direction: str, width: int, name: str) -> str:
    rng = f"[{width - 1}:0] " if width > 1 else ""
    return f"{direction} wire {rng}{name}"


def shell_verilog(spec: ShellSpec) -> str:
    """The shell's Verilog text (module `<top>_shell`)."""
    a = spec.axil_addr_bits
    ports: list[str] = []

    def port(info: str | None, param: str | None, decl: str) -> None:
        attrs = ""
        if info:
            attrs += f'(* X_INTERFACE_INFO = "{info}" *) '
        if param:
            attrs += f'(* X_INTERFACE_PARAMETER = "{param}" *) '
        ports.append(f"  {attrs}{decl}")

    port("xilinx.com:signal:clock:1.0 ap_clk CLK",
         "ASSOCIATED_BUSIF s_axis_in:m_axis_out:s_axilite, ASSOCIATED_RESET ap_rst_n",
         "input wire ap_clk")  # fmt: skip
    port("xilinx.com:signal:reset:1.0 ap_rst_n RST", "POLARITY ACTIVE_LOW", "input wire ap_rst_n")
    axis = "xilinx.com:interface:axis:1.0"
    port(f"{axis} s_axis_in TDATA", None, _decl("input", spec.dma_in, "s_axis_in_tdata"))
    port(f"{axis} s_axis_in TVALID", None, "input wire s_axis_in_tvalid")
    port(f"{axis} s_axis_in TREADY", None, "output wire s_axis_in_tready")
    port(f"{axis} s_axis_in TLAST", None,
         "/* verilator lint_off UNUSEDSIGNAL */ input wire s_axis_in_tlast "
         "/* verilator lint_on UNUSEDSIGNAL */")  # fmt: skip
    port(f"{axis} m_axis_out TDATA", None, _decl("output", spec.dma_out, "m_axis_out_tdata"))
    port(f"{axis} m_axis_out TVALID", None, "output wire m_axis_out_tvalid")
    port(f"{axis} m_axis_out TREADY", None, "input wire m_axis_out_tready")
    port(f"{axis} m_axis_out TLAST", None, "output wire m_axis_out_tlast")
    for i, (sig, d, w) in enumerate(_AXIL):
        width = a if isinstance(w, str) else w
        param = f"PROTOCOL AXI4LITE, ADDR_WIDTH {a}, DATA_WIDTH 32" if i == 0 else None
        port(f"xilinx.com:interface:aximm:1.0 s_axilite {sig}", param,
             _decl(d, width, f"s_axilite_{sig}"))  # fmt: skip
    top_conns = [".ap_clk(ap_clk)", ".ap_rst_n(ap_rst_n)",
                 f".in_tdata(s_axis_in_tdata[{spec.in_width - 1}:0])",
                 ".in_tvalid(s_axis_in_tvalid)", ".in_tready(s_axis_in_tready)",
                 ".out_tdata(rec)", ".out_tvalid(m_axis_out_tvalid)",
                 ".out_tready(m_axis_out_tready)"]  # fmt: skip
    for sig, _d, _ in _AXIL:
        src = "top_rdata" if sig == "RDATA" else f"s_axilite_{sig}"
        top_conns.append(f".s_axilite_{sig}({src})")
    pad = spec.dma_out - spec.out_width
    out = "rec" if pad == 0 else f"{{{pad}'d0, rec}}"
    return f"""// {spec.module}: the generated top {spec.top} as a block-design cell, written by
// exitflow.hw.vivado.shell: do not edit. AXI DMA-width streams, TLAST after every
// PACKET_RECORDS-th record (AXI-Lite 0x{PACKET_RECORDS:03X}, reset 1, 0 counts as 1).
`timescale 1ns/1ps
module {spec.module} (
{("," + chr(10)).join(ports)}
);
    wire [{spec.out_width - 1}:0] rec;
    wire [31:0] top_rdata;
    reg [{a - 1}:0] aw_q, ar_q;
    reg [31:0] w_q, packet_records, count;
    wire [31:0] period = (packet_records == 32'd0) ? 32'd1 : packet_records;
    wire out_fire = m_axis_out_tvalid && m_axis_out_tready;
    wire set_period = s_axilite_BVALID && s_axilite_BREADY && aw_q == {a}'h{PACKET_RECORDS:x};
    assign m_axis_out_tdata = {out};
    assign m_axis_out_tlast = (count == period - 32'd1);
    assign s_axilite_RDATA = (ar_q == {a}'h{PACKET_RECORDS:x}) ? packet_records : top_rdata;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            aw_q <= {a}'d0; ar_q <= {a}'d0; w_q <= 32'd0; packet_records <= 32'd1; count <= 32'd0;
        end else begin
            if (s_axilite_AWVALID && s_axilite_AWREADY) aw_q <= s_axilite_AWADDR;
            if (s_axilite_WVALID && s_axilite_WREADY) w_q <= s_axilite_WDATA;
            if (s_axilite_ARVALID && s_axilite_ARREADY) ar_q <= s_axilite_ARADDR;
            if (set_period) begin
                packet_records <= w_q; count <= 32'd0;
            end else if (out_fire) begin
                count <= m_axis_out_tlast ? 32'd0 : count + 32'd1;
            end
        end
    end
    {spec.top} u_top (
        {("," + chr(10) + "        ").join(top_conns)}
    );
endmodule
"""


_MODULE = re.compile(r"\bmodule\s+(\w+)\s*(?:#\s*\((?:[^()]|\([^()]*\))*\))?\s*\((.*?)\);", re.S)
_PORT = re.compile(
    r"\b(input|output|inout)\s+(?:wire|reg|logic)?\s*(?:signed\s+)?(?:\[(\d+)\s*:\s*(\d+)\])?\s*(\w+)\s*$"
)


def parse_ports(text: str, module: str) -> dict[str, Port]:
    """The ports of `module` in `text` (ANSI port list with numeric ranges; attributes and
    comments ignored). ConfigError when the module is not there."""
    text = re.sub(r"//[^\n]*|/\*.*?\*/|\(\*.*?\*\)", " ", text, flags=re.S)
    for m in _MODULE.finditer(text):
        if m.group(1) != module:
            continue
        ports = {}
        for item in m.group(2).split(","):
            pm = _PORT.search(item.strip())
            if pm is None:
                raise ConfigError(f"cannot read the port {item.strip()!r} of module {module}")
            d, hi, lo, name = pm.groups()
            width = abs(int(hi) - int(lo)) + 1 if hi is not None else 1
            ports[name] = Port(name, d, width)
        return ports
    raise ConfigError(f"module {module} is not defined in the given text")


_INFO = re.compile(
    r'X_INTERFACE_INFO\s*=\s*"[\w.:]+:(interface|signal):[\w.]+:[\d.]+\s+(\w+)\s+\w+"'
)


def parse_interfaces(text: str) -> set[str]:
    """Names of the bus interfaces and signal interfaces a shell declares (X_INTERFACE_INFO)."""
    return {m.group(2) for m in _INFO.finditer(text)}


def instance_connections(text: str, module: str) -> dict[str, str]:
    """Port -> expression of the (first) instance of `module` in `text` (named connections)."""
    m = re.search(rf"\b{re.escape(module)}\s+(?:#\s*\(.*?\)\s*)?\w+\s*\((.*?)\);", text, re.S)
    if m is None:
        raise ConfigError(f"no instance of {module} found")
    return {p: e.strip() for p, e in re.findall(r"\.(\w+)\s*\(([^()]*)\)", m.group(1))}
