"""Stitch the FINN RTL layers of a partition into one SystemVerilog top, for Verilator.

The top is generated from the graph: one instance per node (FINN's generated wrapper module),
one AXI-stream wire bundle per tensor, wired by tensor name, FIFOs and width converters exactly
where FINN inserted them. Graph input i becomes top port `in<i>`, output j `out<j>` (exitflow's
`<port>_tdata/_tvalid/_tready` convention), so `exitflow.hw.tools.stream` drives it directly.

Sources come from the node's own `get_rtl_file_list`, with paths into the installed finn-rtllib
redirected to the patched copy (exitflow.hw.tools.rtllib). Two things FINN's IP integrator does
in Tcl are done here in the SystemVerilog instead: MVAU/VVAU weights in "internal_decoupled" mode
come from a memstream instance next to the layer, and Thresholding_rtl gets the absolute path of
its .dat files (FINN's wrapper names them relative to the simulator's working directory).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from exitflow.core.errors import PrerequisiteError
from exitflow.hw.tools.stream import StreamPort

__all__ = [
    "RTL_OPS",
    "StitchedTop",
    "pack_stream",
    "stitch",
    "uncovered",
    "unpack_stream",
]

# FINN ops whose RTL variant the stitcher handles (checked by simulation against python mode)
RTL_OPS = frozenset(
    {
        "FMPadding_rtl",
        "ConvolutionInputGenerator_rtl",
        "MVAU_rtl",
        "Thresholding_rtl",
        "StreamingFIFO_rtl",
        "StreamingDataWidthConverter_rtl",
        "Pool_rtl",  # exitflow.hw.ops.maxpool: max-pool, which FINN has in HLS only
    }
)


@dataclass
class StitchedTop:
    """A generated top: its text, sources in compile order, stream ports and their tensors."""

    name: str
    text: str
    sources: list[Path]
    inputs: list[StreamPort]
    outputs: list[StreamPort]
    input_tensors: list[str]
    output_tensors: list[str]
    nodes: list[str] = field(default_factory=list)


def uncovered(model: ModelWrapper) -> list[str]:
    """`name (op_type)` of every node the stitcher cannot simulate (HLS-only layers, ours)."""
    return [f"{n.name} ({n.op_type})" for n in model.graph.node if n.op_type not in RTL_OPS]


def _sv_name(tensor: str) -> str:
    return "t_" + re.sub(r"[^A-Za-z0-9_]", "_", tensor)


def _remap(path: str | Path, installed: Path, patched: Path) -> Path:
    path = Path(path).resolve()
    try:
        return patched / path.relative_to(installed)
    except ValueError:
        return path


def _instance(model: ModelWrapper, node, wires: dict[str, int]) -> tuple[str, list[Path]]:
    inst = getCustomOp(node)
    module = inst.get_verilog_top_module_name()
    intf = inst.get_verilog_top_module_intf_names()
    files = [Path(f) for f in inst.get_rtl_file_list(abspath=True)]
    params: dict[str, str] = {}
    conns = [".ap_clk(ap_clk)", ".ap_rst_n(ap_rst_n)"]
    pre: list[str] = []
    code_dir = Path(inst.get_nodeattr("code_gen_dir_ipgen"))
    if node.op_type == "Thresholding_rtl":
        # FINN's wrapper gives "./<node>_" (relative to the simulator's cwd): make it absolute
        params["THRESHOLDS_PATH"] = f'"{code_dir / (module + "_")}"'
    for lite in intf.get("axilite", []):
        # no AXI-lite master in simulation: hold every request channel idle
        conns += [
            f".{lite}_{s}(1'b0)" for s in ("AWVALID", "WVALID", "ARVALID", "BREADY", "RREADY")
        ]
    mem_mode = inst.get_nodeattr("mem_mode") if node.op_type in {"MVAU_rtl", "VVAU_rtl"} else None
    if mem_mode not in (None, "internal_embedded", "internal_decoupled"):
        raise PrerequisiteError(
            f"{node.name}: mem_mode {mem_mode!r} has no RTL simulation here. Fix: use "
            "internal_decoupled (FINN's default) for the partition's weights."
        )
    for name, width in intf["s_axis"]:
        idx = int(re.fullmatch(r"in(\d+)_V", name).group(1))  # type: ignore[union-attr]
        wire = _sv_name(node.input[idx])
        _check_width(wires, node.input[idx], width, node.name)
        conns += [
            f".{name}_TDATA({wire}_tdata)",
            f".{name}_TVALID({wire}_tvalid)",
            f".{name}_TREADY({wire}_tready)",
        ]
    for k, (name, width) in enumerate(intf["m_axis"]):
        wire = _sv_name(node.output[k])
        _check_width(wires, node.output[k], width, node.name)
        conns += [
            f".{name}_TDATA({wire}_tdata)",
            f".{name}_TVALID({wire}_tvalid)",
            f".{name}_TREADY({wire}_tready)",
        ]
    if mem_mode == "internal_decoupled":
        ms = next(code_dir.glob("*_memstream_wrapper.v"))
        w = f"{node.name}_wstrm"
        width = inst.get_instream_width_padded(1)
        pre += [
            f"  wire [{width - 1}:0] {w}_tdata; wire {w}_tvalid, {w}_tready;",
            f"  {ms.stem} {w} (.ap_clk(ap_clk), .ap_clk2x(ap_clk), .ap_rst_n(ap_rst_n),",
            "    .s_axilite_AWVALID(1'b0), .s_axilite_WVALID(1'b0), .s_axilite_ARVALID(1'b0),",
            "    .s_axilite_BREADY(1'b0), .s_axilite_RREADY(1'b0), .s_axis_0_tvalid(1'b0),",
            f"    .m_axis_0_tdata({w}_tdata), .m_axis_0_tvalid({w}_tvalid), "
            f".m_axis_0_tready({w}_tready));",
        ]
        conns += [
            f".in1_V_TDATA({w}_tdata)",
            f".in1_V_TVALID({w}_tvalid)",
            f".in1_V_TREADY({w}_tready)",
        ]
        lib = files[1].parent.parent  # <rtllib>/mvu/mvu_pkg.sv -> <rtllib>
        files += [ms, lib / "axi/hdl/axilite.sv", lib / "memstream/hdl/memstream_axi.sv",
                  lib / "memstream/hdl/memstream.sv"]  # fmt: skip
    ptext = ", ".join(f".{k}({v})" for k, v in params.items())
    head = f"  {module} #({ptext}) {node.name} (" if ptext else f"  {module} {node.name} ("
    body = "\n".join([*pre, head, "    " + ",\n    ".join(conns), "  );"])
    return body, files


def _check_width(wires: dict[str, int], tensor: str, width: int, node: str) -> None:
    if wires.setdefault(tensor, width) != width:
        raise PrerequisiteError(
            f"{node}: stream {tensor} is {width} bits here but {wires[tensor]} bits at its other "
            "end. Fix: run step_insert_dwc_fifo (InsertDWC) on the partition before stitching."
        )


def stitch(model: ModelWrapper, name: str, rtllib: Path, installed_rtllib: Path) -> StitchedTop:
    """Generate the top module `name` for every node of `model` (all must be in RTL_OPS)."""
    missing = uncovered(model)
    if missing:
        raise PrerequisiteError(
            f"{name}: no RTL simulation for {', '.join(missing)} (FINN has them in HLS only, or "
            "they are exitflow ops without RTL yet). Fix: simulate the covered part "
            "(partition_sim.cut_before_uncovered) or add their RTL."
        )
    wires: dict[str, int] = {}
    bodies, sources = [], []
    for node in model.graph.node:
        body, files = _instance(model, node, wires)
        bodies.append(body)
        sources += [_remap(f, installed_rtllib, rtllib) for f in files]
    ins = [t.name for t in model.graph.input]
    outs = [t.name for t in model.graph.output]
    ports = ["input ap_clk", "input ap_rst_n"]
    glue = []
    in_ports, out_ports = [], []
    for i, t in enumerate(ins):
        w, s = wires[t], _sv_name(t)
        ports += [f"input [{w - 1}:0] in{i}_tdata", f"input in{i}_tvalid", f"output in{i}_tready"]
        glue += [f"  assign {s}_tdata = in{i}_tdata;", f"  assign {s}_tvalid = in{i}_tvalid;",
                 f"  assign in{i}_tready = {s}_tready;"]  # fmt: skip
        in_ports.append(StreamPort(f"in{i}", w))
    for j, t in enumerate(outs):
        w, s = wires[t], _sv_name(t)
        ports += [
            f"output [{w - 1}:0] out{j}_tdata",
            f"output out{j}_tvalid",
            f"input out{j}_tready",
        ]
        glue += [f"  assign out{j}_tdata = {s}_tdata;", f"  assign out{j}_tvalid = {s}_tvalid;",
                 f"  assign {s}_tready = out{j}_tready;"]  # fmt: skip
        out_ports.append(StreamPort(f"out{j}", w))
    decl = [f"  wire [{w - 1}:0] {_sv_name(t)}_tdata; wire {_sv_name(t)}_tvalid, "
            f"{_sv_name(t)}_tready;" for t, w in wires.items()]  # fmt: skip
    text = "\n".join(
        [
            "// Generated by exitflow.hw.tools.finn_rtl from the partition graph: do not edit.",
            f"module {name} (",
            "  " + ",\n  ".join(ports),
            ");",
            *decl,
            *glue,
            *bodies,
            "endmodule",
            "",
        ]
    )
    seen: dict[Path, None] = {}
    for f in sorted(sources, key=lambda p: not p.name.endswith("_pkg.sv")):  # packages first
        seen.setdefault(f, None)
    return StitchedTop(name, text, list(seen), in_ports, out_ports, ins, outs,
                       [n.name for n in model.graph.node])  # fmt: skip


def pack_stream(values: np.ndarray, bits: int, per_word: int) -> list[int]:
    """Integers (any shape, stream order) -> words of `per_word` elements, element 0 in the LSBs.

    This is FINN's AXI-stream packing: a folded tensor's innermost dimension (PE or SIMD) is one
    word, its first element in the least significant bits; signed values in two's complement.
    """
    flat = np.asarray(values).astype(np.int64).reshape(-1, per_word)
    mask = (1 << bits) - 1
    words = []
    for row in flat.tolist():
        word = 0
        for k, v in enumerate(row):
            word |= (int(v) & mask) << (k * bits)
        words.append(word)
    return words


def unpack_stream(words: np.ndarray, bits: int, per_word: int, signed: bool) -> np.ndarray:
    """Inverse of `pack_stream`: words -> int64 array of len(words) * per_word elements."""
    mask = (1 << bits) - 1
    out = np.empty((len(words), per_word), dtype=np.int64)
    for i, word in enumerate(words):
        word = int(word)
        for k in range(per_word):
            v = (word >> (k * bits)) & mask
            out[i, k] = v - (1 << bits) if signed and v >> (bits - 1) else v
    return out.reshape(-1)
