"""From a hardware description (sim.hwdesc) and the sim config to the timing model (sim.model)."""

from __future__ import annotations

import logging

from sim.config import SimConfig
from sim.hwdesc import HwDesc, HwDescError, PartitionDesc
from sim.model import CondBuffer, Link, Model, ModelError, NodeTiming, Segment, check_model

log = logging.getLogger(__name__)

DEFAULT_FIFO_DEPTH = 32  # hw.config.HwConfig.fifo_depth's default, for streams not described


def _nodes(p: PartitionDesc, inner: bool) -> list[NodeTiming]:
    """The partition as one node, or as the chain of its FINN nodes."""
    if not inner or not p.nodes:
        return [
            NodeTiming.make(p.name, p.in_beats, p.out_beats, p.cycles_per_frame, p.latency_cycles)
        ]
    return [
        NodeTiming.make(
            f"{p.name}/{n.name}", n.in_beats, n.out_beats, n.cycles_per_frame, n.latency_cycles
        )
        for n in p.nodes
    ]


class _Links:
    """FIFO depths from the description, with a default for streams it leaves out."""

    def __init__(self, desc: HwDesc) -> None:
        self.desc = desc
        self.default = desc.default_fifo_depth or DEFAULT_FIFO_DEPTH
        self.defaulted: list[str] = []

    def between(self, src: str, dst: str, *alt_src: str) -> Link:
        for s in (src, *alt_src):
            found = self.desc.stream_between(s, dst)
            if found is not None:
                return Link(f"{src}->{dst}", found.fifo_depth)
        self.defaulted.append(f"{src}->{dst}")
        return Link(f"{src}->{dst}", self.default)

    def inner(self, p: PartitionDesc, nodes: list[NodeTiming], inner: bool) -> list[Link]:
        """Links in front of the 2nd.. nodes of a partition modelled node by node."""
        if not inner or not p.nodes:
            return []
        out = []
        for a, b, nd in zip(nodes, nodes[1:], p.nodes[1:]):
            depth = nd.in_fifo_depth or self.default
            if nd.in_fifo_depth is None:
                self.defaulted.append(f"{a.name}->{b.name}")
            out.append(Link(f"{a.name}->{b.name}", depth))
        return out


def model_from_hwdesc(desc: HwDesc, cfg: SimConfig | None = None) -> Model:
    """The timing model of `desc`, with the config's buffer overrides applied."""
    cfg = cfg or SimConfig()
    inner = bool(getattr(cfg, "inner_nodes", False))
    stages = desc.stage_order()
    pos = {s.name: i for i, s in enumerate(stages)}
    links = _Links(desc)
    segments, first = [], 0
    for ex in desc.exits:
        last_stage = pos[ex.after]
        if last_stage < first:
            raise HwDescError(f"{desc.source}: exits must follow the stages in depth order")
        seg_parts = stages[first : last_stage + 1]
        stage_nodes: list[NodeTiming] = []
        stage_links: list[Link | None] = []
        for j, p in enumerate(seg_parts):
            nodes = _nodes(p, inner)
            if j == 0 and ex.index == 0:
                stage_links.append(None)
            elif j == 0:
                prev = segments[-1]
                stage_links.append(links.between(prev.cbuf.name, p.name, prev.stage_names[-1]))
            else:
                stage_links.append(links.between(seg_parts[j - 1].name, p.name))
            stage_links += links.inner(p, nodes, inner)
            stage_nodes += nodes
        head = desc.partition(ex.head)
        branch = _nodes(head, inner)
        branch_links = [links.between(ex.after, head.name)]
        branch_links += links.inner(head, branch, inner)
        verdict, cbuf = None, None
        if ex.decision is not None:
            dec = desc.partition(ex.decision)
            branch_links.append(links.between(head.name, dec.name))
            branch += _nodes(dec, False)
            cdesc = desc.cond_buffer_after(ex.after)
            if cdesc is None:
                raise HwDescError(
                    f"{desc.source}: exit {ex.index} has a decision unit but no cond_buffers "
                    f"entry with after={ex.after!r}: hw must describe the conditional buffer"
                )
            frames = (
                cdesc.depth_frames if cfg.cond_buffer_frames is None else cfg.cond_buffer_frames
            )
            front = desc.stream_between(ex.after, cdesc.name)
            extra = front.fifo_depth if front is not None else 0
            cbuf = CondBuffer(
                cdesc.name, cdesc.frame_beats, frames, frames * cdesc.frame_beats + extra
            )
            verdict = links.between(dec.name, cdesc.name)
        segments.append(
            Segment(
                index=ex.index,
                stage=tuple(stage_nodes),
                stage_links=tuple(stage_links),
                branch=tuple(branch),
                branch_links=tuple(branch_links),
                verdict=verdict,
                cbuf=cbuf,
                stage_names=tuple(p.name for p in seg_parts),
                head_name=head.name,
                decision_name=ex.decision,
            )
        )
        first = last_stage + 1
    if first != len(stages):
        raise HwDescError(
            f"{desc.source}: stages {[s.name for s in stages[first:]]} follow the last exit: "
            "the last exit (the final classifier) must read the last stage"
        )
    if links.defaulted:
        log.info(
            "streams without a described FIFO take depth %d: %s",
            links.default,
            ", ".join(links.defaulted),
        )
    model = Model(tuple(segments), desc.clock_mhz, desc.design)
    try:
        check_model(model)
    except ModelError as exc:
        raise HwDescError(f"{desc.source}: {exc}") from None
    if cfg.fifo_depths:
        model = model.with_depths(fifo=cfg.fifo_depths)
    return model
