"""What the generated top is made of, read from a run: partitions, exits, depths, formats.

The plan is data only (no RTL text): `plan_top` reads build/hwdesc.json, each partition's last
checkpoint (FINN's specialised graph with the design's real folding and generated HDL) and, when
present, the simulator's buffer sizing (sim/report.json). exitflow.hw.top.generate turns it into
SystemVerilog.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from exitflow.core.errors import PrerequisiteError
from exitflow.core.hwdesc import HwDesc
from exitflow.core.hwdesc_load import load_hwdesc
from exitflow.hw.flow.builder import rtl_checkpoint
from exitflow.hw.ops import clog2
from exitflow.hw.ops.exit_decision import POLICY_CODES
from exitflow.hw.ops.exit_decision import params as decision_params
from exitflow.hw.tools.finn_rtl import RTL_OPS

__all__ = ["ExitPlan", "PartPlan", "StreamFormat", "TopPlan", "choose_depths", "plan_top"]

log = logging.getLogger(__name__)

LAST_STEP = "step_hw_codegen"  # the last step whose HDL exists without Vivado (or the sizing's)
MIN_ID_FIFO = 4


@dataclass(frozen=True)
class StreamFormat:
    """One end of a stream: element bits, elements per word, signedness, TDATA bits (padded)."""

    bits: int
    per_word: int
    signed: bool
    width: int
    beats: int  # words per frame


@dataclass
class PartPlan:
    """A FINN partition of the top: its specialised graph and its stream formats."""

    name: str
    kind: str
    model: ModelWrapper
    inp: StreamFormat
    out: StreamFormat


@dataclass
class ExitPlan:
    """Exit k: the stages of its segment, its head, decision parameters, buffer, id FIFO."""

    index: int
    stages: list[str]
    head: str
    decision: str | None  # None: the final exit (an argmax unit that always fires)
    policy_code: int
    threshold: int  # clamped to [-2^W, 2^W] (the register's reset value)
    logit_bits: int
    cbuf: str | None = None
    cbuf_frames: int = 0
    cbuf_beats: int = 0
    verdict_depth: int = 2
    id_depth: int = MIN_ID_FIFO


@dataclass
class TopPlan:
    """Everything the generator needs."""

    design: str
    num_classes: int
    parts: dict[str, PartPlan]
    exits: list[ExitPlan]
    fifo_depths: dict[str, int]  # by hwdesc stream name
    depth_source: str  # "sim/report.json sizing" or "hwdesc"
    policy_kind: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def logit_bits(self) -> int:
        """Width of one logit in the output record (the widest head's)."""
        return max(e.logit_bits for e in self.exits)


def _fmt(model: ModelWrapper, tensor: str, consumer: bool) -> StreamFormat:
    if consumer:
        node = model.find_consumer(tensor)
        inst = getCustomOp(node)
        idx = list(node.input).index(tensor)
        dt, folded = inst.get_input_datatype(idx), inst.get_folded_input_shape(idx)
        width = inst.get_instream_width_padded(idx)
    else:
        node = model.find_producer(tensor)
        inst = getCustomOp(node)
        idx = list(node.output).index(tensor)
        dt, folded = inst.get_output_datatype(idx), inst.get_folded_output_shape(idx)
        width = inst.get_outstream_width_padded(idx)
    beats = int(math.prod(folded[:-1]))
    return StreamFormat(dt.bitwidth(), int(folded[-1]), dt.signed(), int(width), beats)


def _load_part(build_dir: Path, name: str, kind: str) -> PartPlan:
    path = rtl_checkpoint(build_dir, name)  # with hw.inner_fifos: sized, its FIFOs
    if not path.is_file():
        raise PrerequisiteError(
            f"{name}: no checkpoint {path}: the top is generated from a build that ran up to "
            f"{LAST_STEP}. Fix: run `exitflow build` (it stops there without Vivado)."
        )
    model = ModelWrapper(str(path))
    no_rtl = [n for n in model.graph.node if n.op_type not in RTL_OPS]
    if no_rtl:
        hls_mvau = [n.name for n in no_rtl if n.op_type == "MVAU_hls"]
        fix = (
            "set `hw.mvau_style: dsp` (FINN's RTL MVU) and rebuild"
            if hls_mvau
            else "that layer has no RTL in finn-plus or exitflow; change the model or board"
        )
        raise PrerequisiteError(
            f"{name}: no RTL for {', '.join(f'{n.name} ({n.op_type})' for n in no_rtl)}, so the "
            f"generated top cannot simulate it. Fix: {fix}."
        )
    for n in model.graph.node:
        gen = getCustomOp(n).get_nodeattr("code_gen_dir_ipgen")
        if not gen or not Path(gen).is_dir():
            raise PrerequisiteError(
                f"{name}: {n.name}'s generated HDL ({gen or 'none'}) is missing (a moved or "
                "cleaned run directory?). Fix: rerun `exitflow build` in this run directory."
            )
    inp = _fmt(model, model.graph.input[0].name, consumer=True)
    out = _fmt(model, model.graph.output[0].name, consumer=False)
    return PartPlan(name, kind, model, inp, out)


def _sizing(report: Path | None) -> dict[str, dict[str, int]] | None:
    if report is None or not report.is_file():
        return None
    rep = json.loads(report.read_text())
    sized = rep.get("sizing") or {}
    cases = [c for c in sized.values() if isinstance(c, dict) and "fifo_beats" in c]
    if not cases:
        return None
    out: dict[str, dict[str, int]] = {"fifo_beats": {}, "cond_buffer_frames": {}}
    for case in cases:  # every sized case must run at full speed: the largest need wins
        for key in out:
            for name, n in (case.get(key) or {}).items():
                out[key][name] = max(out[key].get(name, 1), int(n))
    return out


def choose_depths(
    desc: HwDesc, sim_report: Path | None
) -> tuple[dict[str, int], dict[str, int], str]:
    """(FIFO depth per stream, frames per conditional buffer, where they came from).

    The simulator's sizing (sim/report.json, the largest need over its sized cases) when the
    run has one, else the depths the hardware description gives; never below 2 beats / 1 frame.
    """
    fifo = {s.name: max(2, s.fifo_depth) for s in desc.streams}
    frames = {c.name: max(1, c.depth_frames) for c in desc.cond_buffers}
    sized = _sizing(sim_report)
    if sized is None:
        return fifo, frames, "hwdesc"
    for name, n in sized["fifo_beats"].items():
        if name in fifo:
            fifo[name] = max(2, n)
    for name, n in sized["cond_buffer_frames"].items():
        if name in frames:
            frames[name] = max(1, n)
    return fifo, frames, "sim/report.json sizing"


def _frames_held(desc: HwDesc, names: list[str], fifo_beats: int, frame_beats: int) -> int:
    """Frames partitions `names` and `fifo_beats` of FIFO can hold at once (an upper estimate)."""
    held = 0
    for n in names:
        p = desc.partition(n)
        held += math.ceil(p.latency_cycles / max(1, p.cycles_per_frame)) + 1
    return held + math.ceil(fifo_beats / max(1, frame_beats)) + 1


def plan_top(build_dir: Path, sim_report: Path | None = None) -> TopPlan:
    """Read the build (hwdesc, checkpoints) and the simulator's sizing into a TopPlan."""
    desc = load_hwdesc(build_dir / "hwdesc.json")
    kind = (desc.policy or {}).get("kind", "")
    fifo, frames, source = choose_depths(desc, sim_report)
    parts: dict[str, PartPlan] = {}
    for p in desc.partitions:
        if p.kind in ("stage", "head"):
            parts[p.name] = _load_part(build_dir, p.name, p.kind)
    stages = [s.name for s in desc.stage_order()]
    exits: list[ExitPlan] = []
    first = 0
    prev_cbuf: ExitPlan | None = None
    for ex in desc.exits:
        last = stages.index(ex.after)
        seg = stages[first : last + 1]
        first = last + 1
        head = parts[ex.head]
        if head.out.per_word * head.out.beats != desc.num_classes:
            raise PrerequisiteError(
                f"{ex.head}: writes {head.out.beats} words of {head.out.per_word} logits, not "
                f"{desc.num_classes} logits per frame. Fix: rebuild the head (hwdesc and its "
                "checkpoint disagree)."
            )
        w = head.out.bits
        if ex.decision is None:
            code, thr = 0, -(1 << w)
        else:
            dec = desc.partition(ex.decision)
            pol = dec.policy or kind
            if pol not in POLICY_CODES:
                raise PrerequisiteError(
                    f"{ex.decision}: policy {pol!r} has no RTL decision unit yet (only "
                    f"{sorted(POLICY_CODES)}). Fix: set policy.kind to max_logit or margin."
                )
            t = dec.threshold
            raw = (1 << w) if t is None or t == math.inf else -(1 << w) if t == -math.inf else t
            code = POLICY_CODES[pol]
            thr = int(decision_params(pol, desc.num_classes, w, int(raw))["THRESHOLD"])
        plan = ExitPlan(ex.index, seg, ex.head, ex.decision, code, thr, w)
        cb = desc.cond_buffer_after(ex.after)
        if ex.decision is not None and cb is not None:
            plan.cbuf, plan.cbuf_frames, plan.cbuf_beats = cb.name, frames[cb.name], cb.frame_beats
            verdict = desc.stream_between(ex.decision, cb.name)
            plan.verdict_depth = max(2, verdict.fifo_depth if verdict else 2)
            # the verdict FIFO is built inside the cond_buffer at VERDICT_DEPTH: record that
            # depth, not the sizing's (fmnist3: 32 built where the sizing said 10 and 3)
            fifo[f"{ex.decision}->{cb.name}"] = plan.verdict_depth
        # ids of frames between decision k-1 and decision k: in buffer k-1 (with their
        # verdicts) and in this segment's partitions and FIFOs, plus the decision unit's two
        names = [*seg, ex.head]
        beats = sum(fifo.get(s.name, 0) for s in desc.streams if s.dst in names or s.src in names)
        held = _frames_held(desc, names, beats, parts[seg[-1]].out.beats) + 2
        if prev_cbuf is not None:
            held += prev_cbuf.cbuf_frames + prev_cbuf.verdict_depth
        plan.id_depth = max(MIN_ID_FIFO, 1 << clog2(held))
        exits.append(plan)
        prev_cbuf = plan
    if first != len(stages):
        raise PrerequisiteError(f"stages {stages[first:]} follow the last exit in the hwdesc")
    log.info("top plan for %s: FIFO depths from %s: %s", desc.design, source, fifo)
    span = sum(p.latency_cycles + p.cycles_per_frame for p in desc.partitions)
    return TopPlan(desc.design, desc.num_classes, parts, exits, fifo, source, kind,
                   extra={"latency_cycles": span})  # fmt: skip
