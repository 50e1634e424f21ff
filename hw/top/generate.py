"""Generate the whole gated accelerator as one SystemVerilog top from a run's build.

`generate_top(run)` writes under build/rtl/: one stitched module per FINN partition (its
generated per-layer modules renamed with the partition's prefix, since every partition has its
own `MVAU_rtl_0`), and `<design>_top.sv`, which wires input, frame-id tagging, stages, forks,
exit heads, exit units (decision, logits, id), conditional buffers, the merge and the AXI-Lite
register block. Nothing in it is written by hand per design. docs/rtl.md, "The generated top".
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from exitflow.core.errors import ConfigError, PrerequisiteError
from exitflow.core.files import write_json, write_text
from exitflow.hw.ops import clog2
from exitflow.hw.ops import merge as merge_op
from exitflow.hw.ops.axilite import params as reg_params
from exitflow.hw.ops.exit_decision import timing as decision_timing
from exitflow.hw.tools.stream import AxiLitePort, StreamPort
from exitflow.hw.top.depths import apply_depths, check_depths
from exitflow.hw.top.partitions import partition_module
from exitflow.hw.top.plan import StreamFormat, TopPlan, plan_top
from exitflow.hw.top.shed_wiring import merge_remap, shed_flags
from exitflow.hw.top.top_design import RecordFormat, TopDesign, describe_design
from exitflow.hw.top.top_text import AXIL_PORTS, AXIL_SIGNALS, TopText, connect, stream_link

__all__ = ["GENERATOR_SOURCES", "GLUE", "RecordFormat", "TopDesign", "generate_top"]

log = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent
_OPS = _HERE.parent / "ops"
GLUE = [
    _OPS / "exit_decision" / "exit_decision.sv",
    _OPS / "cond_buffer" / "cond_buffer.sv",
    _OPS / "fork" / "stream_fork.sv",
    _OPS / "merge" / "merge.sv",
    _OPS / "axilite" / "axilite_regs.sv",
    _HERE / "rtl" / "sfifo.sv",
    _HERE / "rtl" / "elem_dwc.sv",
    _HERE / "rtl" / "exit_unit.sv",
]
# the Python that decides the generated text: a change to any of them is a different top
# (exitflow.step_rtl.top_key digests them)
GENERATOR_SOURCES = [
    _HERE / f"{m}.py"
    for m in ("generate", "top_text", "top_design", "partitions", "shed_wiring", "plan", "depths")
]


def generate_top(
    run_dir: str | Path,
    *,
    logits: bool = True,
    id_bits: int = 16,
    merge_depth: int = 8,
    sim_report: str | Path | None = None,
    out_dir: str | Path | None = None,
    depths: dict[str, int] | None = None,
    shedding: bool = False,
    plan: TopPlan | None = None,
    top_name: str | None = None,
) -> TopDesign:
    """Generate `<design>_top.sv` (and every partition module) for the run in `run_dir`.

    Reads build/hwdesc.json, build/checkpoints (step_hw_codegen) and the simulator's sizing
    (`sim_report`, default sim/report.json when present). logits: carry each exit's logits in
    the output records. id_bits: frame-id width (ids wrap modulo 2^id_bits). Files go under
    `out_dir` (default build/rtl/); design.json there records the plan. depths: overrides by
    key (exitflow.hw.top.depths); any depth below its minimum is a ConfigError. shedding: load
    shedding in every conditional buffer (hw.load_shedding resolved, exitflow.sim.shedding;
    docs/rtl.md, "Load shedding"): records of forced frames carry forced = 1.
    plan / top_name: a ready plan and module name instead of the build's gated design (the
    single-exit baseline top, exitflow.hw.top.baseline_top).
    """
    run = Path(run_dir).resolve()
    build = run / "build"
    if not (build / "hwdesc.json").is_file():
        raise PrerequisiteError(f"{build / 'hwdesc.json'} is missing. Fix: run `exitflow build`.")
    if not 4 <= id_bits <= 32:
        raise ConfigError(f"id_bits {id_bits}: give 4..32 bits of frame id")
    report = Path(sim_report) if sim_report is not None else run / "sim" / "report.json"
    if plan is None:
        plan = plan_top(build, report if report.is_file() else None)
    apply_depths(plan, depths)
    check_depths(plan, merge_depth)
    out = Path(out_dir).resolve() if out_dir is not None else build / "rtl"
    name = top_name or re.sub(r"\W", "_", f"{plan.design}_top")
    mods: dict[str, str] = {}
    sources: list[Path] = []
    for p in plan.parts:
        mods[p], files = partition_module(plan, p, name, out)
        sources += files
    n_exit = len(plan.exits)
    c, wl, cw = plan.num_classes, plan.logit_bits, clog2(plan.num_classes)
    rec = RecordFormat(id_bits, clog2(n_exit), cw, c, wl, logits)
    pw = c * wl if logits else 0
    fw = int(shedding)  # exit records carry the forced bit as the merge payload's low bit
    mp = merge_op.params(n_exit, id_bits, cw, pw + fw, merge_depth)
    thresholds = [e.threshold for e in plan.exits[:-1]]
    rp = reg_params(n_exit, thresholds)
    stage0 = plan.parts[plan.exits[0].stages[0]]
    iw = stage0.inp.width
    t = TopText()
    # ---- input: frame ids assigned in arrival order, pushed into segment 0's id FIFO ----
    t.lines.append(f"""  localparam integer FB = {stage0.inp.beats};  // input words per frame
  reg [{clog2(stage0.inp.beats + 1) - 1}:0] in_beat;
  localparam [{clog2(stage0.inp.beats + 1) - 1}:0] FB_LAST = {clog2(stage0.inp.beats + 1)}'(FB - 1);
  reg [{id_bits - 1}:0] next_id;
  wire in_first = (in_beat == 0);""")
    for e in plan.exits:
        t.bundle(f"id{e.index}", id_bits)
        t.bundle(f"idq{e.index}", id_bits)
        t.inst("sfifo", {"DW": id_bits, "DEPTH": e.id_depth}, f"u_idfifo{e.index}",
               [*connect("s", f"id{e.index}"), *connect("m", f"idq{e.index}")])  # fmt: skip
    src = t.bundle("in_s", iw)
    t.lines.append("""  assign in_s_tdata = in_tdata;
  assign in_s_tvalid = in_tvalid && (!in_first || id0_tready);
  assign in_tready = in_s_tready && (!in_first || id0_tready);
  assign id0_tdata = next_id;
  assign id0_tvalid = in_tvalid && in_first && in_s_tready;
  wire in_fire = in_tvalid && in_tready;
  always @(posedge ap_clk) begin
    if (!ap_rst_n) begin in_beat <= 0; next_id <= 0; end
    else if (in_fire) begin
      in_beat <= (in_beat == FB_LAST) ? 0 : in_beat + 1'b1;
      if (in_first) next_id <= next_id + 1'b1;
    end
  end""")
    ths = f"[{32 * int(rp['NT']) - 1}:0]"
    t.lines.append(f"  wire {ths} th; wire [{n_exit - 1}:0] cnt_inc;")
    fmt = stage0.inp
    for e in plan.exits:
        k = e.index
        for j, s in enumerate(e.stages):
            part = plan.parts[s]
            if k or j:
                prev = plan.exits[k - 1].stages[-1] if j == 0 else e.stages[j - 1]
                src = stream_link(
                    t, src, fmt, part.inp, plan.fifo_depths.get(f"{prev}->{s}", 2), f"{prev}_{s}"
                )
            out_b = t.bundle(f"{s}_o", part.out.width)
            t.inst(mods[s], {}, f"u_{s}", [*connect("in0", src), *connect("out0", out_b)])
            src, fmt = out_b, part.out
        last = e.stages[-1]
        head = plan.parts[e.head]
        hdepth = plan.fifo_depths.get(f"{last}->{e.head}", 2)
        if e.cbuf:
            fh, fc = t.bundle(f"fork{k}_h", fmt.width), t.bundle(f"fork{k}_c", fmt.width)
            t.inst("stream_fork", {"DW": fmt.width, "LOCKSTEP": 1}, f"u_fork{k}",
                   [*connect("s", src), *connect("m0", fh), *connect("m1", fc)])  # fmt: skip
            hin = stream_link(t, fh, fmt, head.inp, hdepth, f"{last}_{e.head}")
            front = plan.fifo_depths.get(f"{last}->{e.cbuf}")
            cin = t.fifo(fc, fmt.width, front, f"{last}_{e.cbuf}") if front else fc
            t.bundle(f"verdict{k}", 1)
            cout = t.bundle(f"{e.cbuf}_o", fmt.width)
            t.bundle(f"shed{k}", 1)
            t.inst("cond_buffer", {"DW": fmt.width, "FRAME_BEATS": e.cbuf_beats,
                                   "DEPTH_FRAMES": e.cbuf_frames, "VERDICT_DEPTH": e.verdict_depth,
                                   "SHEDDING": fw},
                   f"u_{e.cbuf}", [*connect("s", cin), *connect("d", f"verdict{k}"),
                                   *connect("m", cout), *connect("f", f"shed{k}")])  # fmt: skip
            xin = shed_flags(t, k, e.id_depth, shedding, True)
            src = cout
        else:
            hin = stream_link(t, src, fmt, head.inp, hdepth, f"{last}_{e.head}")
            xin = shed_flags(t, k, 0, shedding, False)
        hout = t.bundle(f"{e.head}_o", head.out.width)
        t.inst(mods[e.head], {}, f"u_{e.head}", [*connect("in0", hin), *connect("out0", hout)])
        one = StreamFormat(head.out.bits, 1, True, head.out.bits, c)
        dname = e.decision or f"argmax{k}"
        logit = stream_link(
            t,
            hout,
            head.out,
            one,
            plan.fifo_depths.get(f"{e.head}->{dname}", 2),
            f"{e.head}_{dname}",
        )
        t.bundle(f"rec{k}", rec.width - rec.exit_bits + fw)  # {logits, [forced,] class, keep, id}
        final = e.decision is None
        if final:
            t.lines.append(  # the final exit has no buffer to release and no next segment
                f"  /* verilator lint_off UNUSEDSIGNAL */\n  wire verdict{k}_tdata, "
                f"verdict{k}_tvalid; wire verdict{k}_tready = 1'b1;"
            )
        nxt = f"id{k + 1}" if not final else f"nid{k}"
        if final:
            t.bundle(nxt, id_bits)
            t.lines.append(f"  assign {nxt}_tready = 1'b1;\n  /* verilator lint_on UNUSEDSIGNAL */")
        thr = "32'd0" if final else f"th[{32 * k + 31}:{32 * k}]"
        t.inst("exit_unit", {"C": c, "W": e.logit_bits, "WL": wl, "POLICY": e.policy_code,
                             "CW": cw, "IDW": id_bits, "LOGITS": int(logits), "FINAL": int(final),
                             "SHED": fw},
               f"u_exit{k}", [f".th({thr})", *connect("s", logit), *connect("i", f"idq{k}"),
                              *connect("x", xin),
                              *connect("r", f"rec{k}"), *connect("v", f"verdict{k}"),
                              *connect("n", nxt)])  # fmt: skip
    recs = [f"rec{e.index}" for e in reversed(plan.exits)]
    t.lines.append(f"""  wire [{len(recs)}-1:0] mrg_tready;
  merge #(.N({mp["N"]}), .IDW({mp["IDW"]}), .CW({mp["CW"]}), .PW({mp["PW"]}), .DEPTH({mp["DEPTH"]})) u_merge (
    .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
    .s_tdata({{{", ".join(r + "_tdata" for r in recs)}}}),
    .s_tvalid({{{", ".join(r + "_tvalid" for r in recs)}}}),
    .s_tready(mrg_tready),
    .m_tdata({"mrg_o" if shedding else "out"}_tdata), .m_tvalid(out_tvalid), .m_tready(out_tready));""")
    if shedding:
        merge_remap(t, rec.width, id_bits + rec.exit_bits, cw, pw)
    for e in plan.exits:
        t.lines.append(f"  assign rec{e.index}_tready = mrg_tready[{e.index}];")
    ew = rec.exit_bits
    t.lines.append(f"""  wire out_fire = out_tvalid && out_tready;
  wire [{ew - 1}:0] out_exit = out_tdata[{id_bits + ew - 1}:{id_bits}];""")
    for e in plan.exits:
        t.lines.append(f"  assign cnt_inc[{e.index}] = out_fire && (out_exit == {ew}'d{e.index});")
    t.lines.append(f"""  axilite_regs #(.N({rp["N"]}), .NT({rp["NT"]}), .TH_INIT({rp["TH_INIT"]}), .AW(12)) u_regs (
    .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
    {", ".join(f".s_axilite_{s}(s_axilite_{s})" for s in AXIL_SIGNALS)},
    .th(th), .cnt_inc(cnt_inc), .frame_in(in_fire && in_first));""")
    ports = [
        "input wire ap_clk", "input wire ap_rst_n",
        f"input wire [{iw - 1}:0] in_tdata", "input wire in_tvalid", "output wire in_tready",
        f"output wire [{rec.width - 1}:0] out_tdata", "output wire out_tvalid",
        "input wire out_tready",
        *[f"{d} wire {w}s_axilite_{s}" for s, d, w in AXIL_PORTS],
    ]  # fmt: skip
    text = "\n".join([
        f"// {name}: the gated accelerator of design {plan.design}, generated by",
        "// exitflow.hw.top.generate from build/hwdesc.json and the partitions' checkpoints:",
        "// do not edit. Record: {logits, class, forced, exit, frame_id} (docs/rtl.md).",
        "`timescale 1ns/1ps",
        f"module {name} (", "  " + ",\n  ".join(ports), ");", *t.lines, "endmodule", "",
    ])  # fmt: skip
    top_file = write_text(out / f"{name}.sv", text)
    seen: dict[Path, None] = {}
    for f in sorted(sources, key=lambda p: not p.name.endswith("_pkg.sv")):
        seen.setdefault(f, None)
    all_src = [*seen, *GLUE, top_file]
    ii, lat = decision_timing(c)
    design = TopDesign(
        name=name,
        rtl_dir=out,
        top_file=top_file,
        sources=all_src,
        input=StreamPort("in", iw),
        output=StreamPort("out", rec.width),
        axilite=AxiLitePort("s_axilite", 12),
        input_format=stage0.inp,
        record=rec,
        plan=plan,
        thresholds=thresholds,
        meta={
            "final_argmax": {"cycles_per_frame": ii, "latency_cycles": lat},
            "shedding": shedding,
        },
    )
    write_json(out / "design.json", describe_design(design))
    log.info("generated %s (%d sources) under %s", name, len(all_src), out)
    return design
