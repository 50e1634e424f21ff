"""Measure every partition of the generated top alone in Verilator: what sim/ learns from the RTL.

FINN's analytical cycle estimates (hwdesc.json) are not what its RTL layers do (docs/rtl.md,
"What the simulator learns from the RTL"). `measure_partition_timing(run_dir)` builds each
partition module of the generated top on its own, feeds it `frames` frames back to back with no
output back-pressure, and writes build/rtl/timing.json (schema sim.rtl_timing): per partition
the first frame's input and output word cycles (its beat schedule in an empty pipeline) and the
steady-state cycles per frame; the final argmax unit's timing; the top's FIFO and buffer depths.
`sim.design.model_from_hwdesc(desc, timing=load_rtl_timing(run_dir))` uses it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from exitflow.core.errors import PrerequisiteError, SimulationError
from exitflow.core.files import write_json, write_text
from exitflow.hw.tools.stream import StreamPort, VerilatedModel, build_model
from exitflow.hw.tools.verilator import Verilator
from exitflow.hw.top.generate import GLUE, TopDesign
from exitflow.hw.top.pair_timing import held_reads, read_freeze, read_slack, write_slack
from exitflow.hw.top.plan import StreamFormat
from exitflow.sim.rtl_timing import PartitionTiming, RtlTiming

__all__ = ["measure_partition", "measure_partition_timing", "measure_stage_with_head", "read_ahead"]

log = logging.getLogger(__name__)

# Words are offered from this cycle on: right after reset FINN's layers stall their input for
# a while (stage0 of the tiny design takes its first word, then none for 31 cycles), which is
# not their schedule; the top meets it once, at its first frame.
SETTLE = 10_000
# output refused in this share of the cycles (seeded) to hold a partition for held_write_slack
HELD_BACKPRESSURE = 0.9


def measure_partition(
    design: TopDesign,
    name: str,
    *,
    frames: int = 4,
    verilator: Verilator | None = None,
    jobs: int = 1,
    fed_by: PartitionTiming | None = None,
) -> PartitionTiming:
    """Simulate partition `name` of `design` alone: `frames` frames of zeros, saturated input,
    no back-pressure (FINN's RTL layers' timing does not depend on the data); then one frame
    starved: its words offered as `fed_by` (the partition writing them in the top, an exit
    head's stage) writes them, or, without one, one every twice the average interval."""
    if frames < 3:
        raise PrerequisiteError("measure at least 3 frames (two steady-state intervals)")
    part = design.plan.parts[name]
    model, inp = _partition_model(design, name, verilator, jobs)
    n_in, n_out = inp.beats, part.out.beats
    run = model.run(
        {"in0": np.zeros(frames * n_in, np.uint64)},
        expect={"out0": frames * n_out},
        release={"in0": np.full(frames * n_in, SETTLE, np.uint64)},
        max_idle_cycles=1_000_000,
    )
    ic = run.in_cycles["in0"].astype(np.int64).reshape(frames, n_in)
    oc = run.out_cycles["out0"].astype(np.int64).reshape(frames, n_out)
    if len(run.outputs["out0"]) != frames * n_out:
        raise SimulationError(
            f"{name}: {len(run.outputs['out0'])} output words for {frames} frames, expected "
            f"{frames * n_out}: the partition's stream format and the plan disagree."
        )
    steps = np.diff(oc[1:, -1])
    if len(set(steps.tolist())) != 1:
        log.warning("%s: frame intervals %s are not yet steady; using the last", name, steps)
    t0 = int(ic[0, 0])
    ii = int(steps[-1])
    s_in, s_out = _starved_frame(model, name, n_in, n_out, ii, fed_by)
    timing = PartitionTiming(
        cycles_per_frame=ii,
        in_offsets=tuple(int(x) - t0 for x in ic[0]),
        out_offsets=tuple(int(x) - t0 for x in oc[0]),
        frames_measured=frames,
        read_ahead=read_ahead(ic, ii),
        starved_in_offsets=s_in,
        starved_out_offsets=s_out,
        steady_in_offsets=tuple(int(x) for x in ic[-1] - ic[-2, -1]),
    )
    log.info(
        "%s in RTL: %d cycles per frame, latency %d (FINN estimates in hwdesc differ)",
        name,
        timing.cycles_per_frame,
        timing.latency_cycles,
    )
    return timing


def _partition_model(
    design: TopDesign, name: str, verilator: Verilator | None, jobs: int
) -> tuple[VerilatedModel, StreamFormat]:
    """Partition `name` as the top reads it (with its elem_dwc where the top has one), built
    in Verilator, and the format of the words it reads."""
    part = design.plan.parts[name]
    sources = [s for s in design.sources if s not in GLUE and s != design.top_file]
    top, inp = f"{design.name}_{name}", part.inp
    writer = _writer_format(design, name)
    if writer is not None and (writer.per_word, writer.width) != (inp.per_word, inp.width):
        # the top reads this partition through elem_dwc: measure the two as one unit, so that
        # the converter's one-word buffer is in the schedule (sim/ then inserts no converter)
        top, inp = _with_dwc(design, name, writer), writer
        sources += [g for g in GLUE if g.name == "elem_dwc.sv"] + [
            design.rtl_dir / "measure" / f"{top}.sv"
        ]
    model = build_model(
        top,
        sources,
        inputs=[StreamPort("in0", inp.width)],
        outputs=[StreamPort("out0", part.out.width)],
        workdir=design.rtl_dir / "verilator",
        verilator=verilator,
        jobs=jobs,
    )
    return model, inp


def held_write_slack(
    design: TopDesign,
    name: str,
    *,
    out_offsets: tuple[int, ...],
    frames: int = 4,
    verilator: Verilator | None = None,
    jobs: int = 1,
) -> int:
    """The write slack (pair_timing.write_slack) of partition `name` with its output held:
    saturated input, its output refused in HELD_BACKPRESSURE of the cycles (seeded), the
    largest over frames 1.. against its saturated `out_offsets`. A stage the pair run never held (its head faster than it) shows
    slack 0 there, yet in the top a full conditional buffer holds it: fmnist_demo's stage1
    (head0 3,920 cycles a frame, stage1 7,579) held by cbuf1 then wrote 376 cycles ahead of
    its saturated pattern (probe_top, 120 frames), which the model with slack 0 missed."""
    model, inp = _partition_model(design, name, verilator, jobs)
    n_out = design.plan.parts[name].out.beats
    run = model.run(
        {"in0": np.zeros(frames * inp.beats, np.uint64)},
        expect={"out0": frames * n_out},
        release={"in0": np.full(frames * inp.beats, SETTLE, np.uint64)},
        backpressure=HELD_BACKPRESSURE,
        max_idle_cycles=1_000_000,
    )
    oc = run.out_cycles["out0"].astype(np.int64).reshape(frames, n_out)
    return max(write_slack(w, out_offsets) for w in oc[1:])


def _starved_frame(
    model: VerilatedModel,
    name: str,
    n_in: int,
    n_out: int,
    ii: int,
    fed_by: PartitionTiming | None = None,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """One frame's read and write cycles with its words offered as its writer in the top
    writes them (`fed_by`'s first frame) or slowly (one every twice the steady-state average
    interval): its pipeline then lags its input as in the top (or not at all), so each write
    follows the last read before it by that latency, not by a saturated run's backlog."""
    if fed_by is not None and len(fed_by.out_offsets) == n_in:
        at = np.asarray(fed_by.out_offsets, np.int64) - fed_by.out_offsets[0]
    else:
        at = np.arange(n_in, dtype=np.int64) * (2 * -(-ii // n_in) + 1)
    run = model.run(
        {"in0": np.zeros(n_in, np.uint64)},
        expect={"out0": n_out},
        release={"in0": (at + SETTLE).astype(np.uint64)},
        max_idle_cycles=1_000_000,
    )
    ic = run.in_cycles["in0"].astype(np.int64)
    oc = run.out_cycles["out0"].astype(np.int64)
    if len(ic) != n_in or len(oc) != n_out:
        raise SimulationError(
            f"{name}: {len(ic)} words taken and {len(oc)} written for one frame offered "
            f"slowly, expected {n_in} and {n_out}: the partition's stream format and the plan "
            "disagree."
        )
    t0 = int(ic[0])
    return tuple(int(x) - t0 for x in ic), tuple(int(x) - t0 for x in oc)


def read_ahead(in_cycles: np.ndarray, cycles_per_frame: int) -> int:
    """Input words of the last measured frame accepted before the first frame's schedule would
    start it (the previous frame's last read + cycles_per_frame - the first frame's read span).

    in_cycles: [frames, words] accept cycles of a saturated run. A partition that buffers
    nothing ahead (each frame read as the first one) gives 0."""
    ic = np.asarray(in_cycles, np.int64)
    span = int(ic[0, -1] - ic[0, 0])
    start = int(ic[-2, -1]) + cycles_per_frame - span
    return int((ic[-1] < start).sum())


def _writer_format(design: TopDesign, name: str) -> StreamFormat | None:
    """The format of the stream the top feeds partition `name` from (None: the top's input)."""
    plan = design.plan
    prev: str | None = None
    for e in plan.exits:
        for s in e.stages:
            if s == name:
                return plan.parts[prev].out if prev else None
            prev = s
        if e.head == name:
            return plan.parts[e.stages[-1]].out
    return None


def _with_dwc(design: TopDesign, name: str, a: StreamFormat) -> str:
    """A wrapper module: elem_dwc (as the top instantiates it) in front of partition `name`."""
    b = design.plan.parts[name].inp
    out = design.plan.parts[name].out
    top = f"{design.name}_{name}_dwc"
    g = math.gcd(a.per_word, b.per_word)
    text = f"""`timescale 1ns/1ps
// generated by exitflow.hw.top.measure: elem_dwc + {name}, as the top instantiates them
module {top} (
  input ap_clk, input ap_rst_n,
  input [{a.width - 1}:0] in0_tdata, input in0_tvalid, output in0_tready,
  output [{out.width - 1}:0] out0_tdata, output out0_tvalid, input out0_tready);
  wire [{b.width - 1}:0] d_tdata; wire d_tvalid, d_tready;
  elem_dwc #(.EB({a.bits}), .IN_E({a.per_word}), .OUT_E({b.per_word}), .G({g}), .IW({a.width}),
             .OW({b.width})) u_dwc (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
    .s_tdata(in0_tdata), .s_tvalid(in0_tvalid), .s_tready(in0_tready),
    .m_tdata(d_tdata), .m_tvalid(d_tvalid), .m_tready(d_tready));
  {design.name}_{name} u_p (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
    .in0_tdata(d_tdata), .in0_tvalid(d_tvalid), .in0_tready(d_tready),
    .out0_tdata(out0_tdata), .out0_tvalid(out0_tvalid), .out0_tready(out0_tready));
endmodule
"""
    write_text(design.rtl_dir / "measure" / f"{top}.sv", text)
    return top


def measure_partition_timing(
    run_dir: str | Path,
    design: TopDesign | None = None,
    *,
    frames: int = 4,
    verilator: Verilator | None = None,
    jobs: int = 1,
) -> Path:
    """Measure every partition of the run's generated top; write build/rtl/timing.json.

    design: the generated top (`generate_top(run_dir)` when None). Returns the file's path.
    """
    from exitflow.hw.top.generate import generate_top

    d = design if design is not None else generate_top(run_dir)
    # the stages first: an exit head is measured starved as its stage writes
    heads = {e.head: e.stages[-1] for e in d.plan.exits}
    parts: dict[str, PartitionTiming] = {}
    for n in sorted(d.plan.parts, key=lambda n: n in heads):
        feed = parts.get(heads[n]) if n in heads else None
        parts[n] = measure_partition(
            d, n, frames=frames, verilator=verilator, jobs=jobs, fed_by=feed
        )
    for e in d.plan.exits:
        # a head fed by its stage as in the top: its steady reads there (docs/simulator.md)
        got = measure_stage_with_head(
            d, e.stages[-1], e.head, frames=frames + 1, verilator=verilator, jobs=jobs, beats=True
        )
        hi = np.asarray(got["head_in"], np.int64).reshape(frames + 1, -1)
        if hi.shape[1] == len(parts[e.head].in_offsets):
            paired = tuple(int(x) for x in hi[-1] - hi[-2, -1])
            parts[e.head] = replace(parts[e.head], paired_in_offsets=paired)
        stage = parts[e.stages[-1]]
        so = np.asarray(got["stage_out"], np.int64).reshape(frames + 1, -1)
        if so.shape[1] == len(stage.out_offsets):
            slack = write_slack(so[-1], stage.out_offsets)
            if slack == 0:
                # the head never held it: hold its output alone (held_write_slack)
                slack = held_write_slack(
                    d, e.stages[-1], frames=frames, verilator=verilator, jobs=jobs,
                    out_offsets=stage.out_offsets,
                )  # fmt: skip
            parts[e.stages[-1]] = replace(stage, write_slack=slack)
            si = np.asarray(got["stage_in"], np.int64).reshape(frames + 1, -1)
            parts[e.stages[-1]] = replace(parts[e.stages[-1]], read_slack=read_slack(si))
            if len(e.stages) == 1 and si.shape[1] % len(stage.in_offsets) == 0:
                s = read_freeze(si[:, :: si.shape[1] // len(stage.in_offsets)], so, stage)
                parts[e.stages[-1]] = replace(parts[e.stages[-1]], read_freeze=s)
                held = held_reads(si, so, stage)
                parts[e.stages[-1]] = replace(parts[e.stages[-1]], held_reads=held)
    parts = {n: parts[n] for n in d.plan.parts}
    fa = d.meta.get("final_argmax") or {}
    timing = RtlTiming(
        design=d.plan.design,
        partitions=parts,
        final_argmax=(int(fa["cycles_per_frame"]), int(fa["latency_cycles"])) if fa else None,
        fifo_depths={k: int(v) for k, v in d.plan.fifo_depths.items()},
        cond_buffer_frames={e.cbuf: e.cbuf_frames for e in d.plan.exits if e.cbuf},
        extra={"top": d.name},
    )
    return write_json(d.rtl_dir / "timing.json", timing.to_dict())


def measure_stage_with_head(
    design: TopDesign,
    stage: str,
    head: str,
    *,
    frames: int = 5,
    verilator: Verilator | None = None,
    jobs: int = 1,
    beats: bool = False,
) -> dict[str, list[int]]:
    """Stage `stage` with exit head `head` behind it, as the top joins them (its FIFO of the
    top's depth, elem_dwc where the formats differ), simulated as one unit: `frames` frames
    offered to the stage in its own format from cycle SETTLE on, the head's output never
    stalled. Returns the intervals between the stage's frames' first reads and between the
    head's frames' last writes. The steady interval is what the pair runs at in the top when
    nothing else holds it (fmnist3: stage0 + head0 10,274 cycles per frame, stage0 alone 7,259
    and head0 alone 8,687); the simulator's model of the same pair is checked against it
    (docs/simulator.md, "Measured RTL timing").

    beats: also return the cycle of every beat (`stage_in`, `stage_out`, `head_in` (the words
    the head, with its converter, takes from the FIFO), `head_out`; the inner two recorded
    through a never-stalled `probe` output, so the timing is unchanged)."""
    parts = design.plan.parts
    a, b = parts[stage].out, parts[head].inp
    inp, out = parts[stage].inp, parts[head].out
    depth = design.plan.fifo_depths.get(f"{stage}->{head}", 2)
    top = f"{design.name}_{stage}_{head}_pair"
    if (a.per_word, a.width) == (b.per_word, b.width):
        conv = "  assign h_tdata = q_tdata; assign h_tvalid = q_tvalid; assign q_tready = h_tready;"
    else:
        g = math.gcd(a.per_word, b.per_word)
        conv = (
            f"  elem_dwc #(.EB({a.bits}), .IN_E({a.per_word}), .OUT_E({b.per_word}), .G({g}), "
            f".IW({a.width}), .OW({b.width})) u_d (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n),\n"
            "    .s_tdata(q_tdata), .s_tvalid(q_tvalid), .s_tready(q_tready),\n"
            "    .m_tdata(h_tdata), .m_tvalid(h_tvalid), .m_tready(h_tready));"
        )
    text = f"""`timescale 1ns/1ps
// generated by exitflow.hw.top.measure: {stage} -> sfifo -> ({head}'s converter) -> {head}
module {top} (
  input ap_clk, input ap_rst_n,
  input [{inp.width - 1}:0] in0_tdata, input in0_tvalid, output in0_tready,
  output [{out.width - 1}:0] out0_tdata, output out0_tvalid, input out0_tready,
  output [1:0] probe_tdata, output probe_tvalid, input probe_tready);
  wire [{a.width - 1}:0] s_tdata, q_tdata; wire s_tvalid, s_tready, q_tvalid, q_tready;
  wire [{b.width - 1}:0] h_tdata; wire h_tvalid, h_tready;
  {design.name}_{stage} u_s (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
    .in0_tdata(in0_tdata), .in0_tvalid(in0_tvalid), .in0_tready(in0_tready),
    .out0_tdata(s_tdata), .out0_tvalid(s_tvalid), .out0_tready(s_tready));
  sfifo #(.DW({a.width}), .DEPTH({depth})) u_q (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
    .s_tdata(s_tdata), .s_tvalid(s_tvalid), .s_tready(s_tready),
    .m_tdata(q_tdata), .m_tvalid(q_tvalid), .m_tready(q_tready));
{conv}
  {design.name}_{head} u_h (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
    .in0_tdata(h_tdata), .in0_tvalid(h_tvalid), .in0_tready(h_tready),
    .out0_tdata(out0_tdata), .out0_tvalid(out0_tvalid), .out0_tready(out0_tready));
  assign probe_tdata = {{q_tvalid && q_tready, s_tvalid && s_tready}};
  assign probe_tvalid = |probe_tdata;
endmodule
"""
    wrapper = design.rtl_dir / "measure" / f"{top}.sv"
    write_text(wrapper, text)
    sources = [s for s in design.sources if s not in GLUE and s != design.top_file]
    sources += [g for g in GLUE if g.name in ("elem_dwc.sv", "sfifo.sv")] + [wrapper]
    model = build_model(
        top,
        sources,
        inputs=[StreamPort("in0", inp.width)],
        outputs=[StreamPort("out0", out.width), StreamPort("probe", 2)],
        workdir=design.rtl_dir / "verilator",
        verilator=verilator,
        jobs=jobs,
    )
    n = frames * inp.beats
    run = model.run(
        {"in0": np.zeros(n, np.uint64)},
        expect={"out0": frames * out.beats},
        release={"in0": np.full(n, SETTLE, np.uint64)},
        max_idle_cycles=1_000_000,
    )
    ic = run.in_cycles["in0"].astype(np.int64).reshape(frames, -1)
    oc = run.out_cycles["out0"].astype(np.int64).reshape(frames, -1)
    got = {
        "stage_first_read_intervals": np.diff(ic[:, 0]).tolist(),
        "head_last_write_intervals": np.diff(oc[:, -1]).tolist(),
    }
    if beats:
        mask = np.asarray(run.outputs["probe"]).astype(np.int64)
        pc = run.out_cycles["probe"].astype(np.int64)
        got |= {
            "stage_in": ic.ravel().tolist(),
            "stage_out": pc[(mask & 1) > 0].tolist(),
            "head_in": pc[(mask & 2) > 0].tolist(),
            "head_out": oc.ravel().tolist(),
        }
    return got
