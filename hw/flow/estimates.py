"""Analytical estimates per layer and per partition: FINN's models for FINN layers, exitflow.hw.ops
for exitflow's own blocks. Cycles are per frame at the fabric clock.

- cycles_per_frame of a layer: FINN's `get_exp_cycles` (its initiation interval); of a
  partition: the largest of its layers'.
- latency_cycles of a partition: FINN's critical path (`dataflow_performance`): the sum of the
  layers' cycles along the longest path, FINN's own pessimistic "no overlap" latency model.
- beats: folded stream words per frame; widths: FINN's stream widths in bits.
- resources: FINN's `node_res_estimation` for the board's part (LUT, BRAM_18K, URAM, DSP).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from exitflow.hw.ops import estimates as rtl_blocks
from exitflow.hw.ops.exit_decision import op as decision_op

log = logging.getLogger(__name__)

RES_KEYS = ("LUT", "BRAM_18K", "URAM", "DSP")


def _res(d: dict) -> dict[str, float]:
    return {k: float(d.get(k, 0)) for k in RES_KEYS}


def add_res(*items: dict) -> dict[str, float]:
    """Sum resource dicts (FF kept when present)."""
    out = {k: 0.0 for k in RES_KEYS}
    for item in items:
        for k, v in item.items():
            out[k] = out.get(k, 0.0) + float(v)
    return out


@dataclass
class NodeEstimate:
    """One layer."""

    name: str
    op: str
    cycles_per_frame: int
    latency_cycles: int
    in_beats: int
    out_beats: int
    in_width_bits: int
    out_width_bits: int
    resources: dict[str, float]
    folding: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "op": self.op,
            "cycles_per_frame": self.cycles_per_frame,
            "latency_cycles": self.latency_cycles,
            "in_beats": self.in_beats,
            "out_beats": self.out_beats,
            "in_width_bits": self.in_width_bits,
            "out_width_bits": self.out_width_bits,
            "resources": self.resources,
            "folding": self.folding,
        }


@dataclass
class PartitionEstimate:
    """One partition: its layers and the totals the simulator and reports use."""

    name: str
    nodes: list[NodeEstimate]
    cycles_per_frame: int
    latency_cycles: int
    in_beats: int
    in_width_bits: int
    out_beats: int
    out_width_bits: int
    resources: dict[str, float]
    bottleneck: str

    def fps(self, clock_mhz: float) -> float:
        return clock_mhz * 1e6 / max(1, self.cycles_per_frame)


def _beats(shape) -> int:
    return int(np.prod(shape[:-1])) if len(shape) > 1 else 1


def _finn_node(node, fpgapart: str) -> NodeEstimate:
    inst = getCustomOp(node)
    cycles = int(inst.get_exp_cycles())
    attrs = inst.get_nodeattr_types()
    fold = {a: int(inst.get_nodeattr(a)) for a in ("PE", "SIMD") if a in attrs}
    return NodeEstimate(
        node.name,
        node.op_type,
        cycles,
        cycles,
        _beats(inst.get_folded_input_shape(0)),
        _beats(inst.get_folded_output_shape(0)),
        int(inst.get_instream_width(0)),
        int(inst.get_outstream_width(0)),
        _res(inst.node_res_estimation(fpgapart)),
        fold,
    )


def partition_estimate(model: ModelWrapper, name: str, fpgapart: str) -> PartitionEstimate:
    """Estimates of a partition model after specialisation (or a decision_op model)."""
    if decision_op.is_custom_decision(model):
        inst = decision_op.decision_inst(model)
        c = int(inst.get_nodeattr("num_classes"))
        w = int(inst.get_nodeattr("logit_bits"))
        res: dict[str, float] = dict(inst.resources())
        node = NodeEstimate(
            "ExitDecision_0",
            "ExitDecision",
            inst.get_exp_cycles(),
            inst.latency_cycles(),
            c,
            1,
            w,
            decision_op.class_bits(c) + 1,
            res,
        )
        return PartitionEstimate(
            name,
            [node],
            node.cycles_per_frame,
            node.latency_cycles,
            c,
            w,
            1,
            node.out_width_bits,
            res,
            node.name,
        )
    nodes = [_finn_node(n, fpgapart) for n in model.graph.node]
    if not nodes:
        raise ValueError(f"{name}: empty partition")
    latency: dict[str, int] = {}
    for node, est in zip(model.graph.node, nodes):
        preds = model.find_direct_predecessors(node) or []
        latency[node.name] = est.cycles_per_frame + max(
            (latency[p.name] for p in preds if p.name in latency), default=0
        )
    first, last = nodes[0], nodes[-1]
    slowest = max(nodes, key=lambda n: n.cycles_per_frame)
    return PartitionEstimate(
        name,
        nodes,
        slowest.cycles_per_frame,
        max(latency.values()),
        first.in_beats,
        first.in_width_bits,
        last.out_beats,
        last.out_width_bits,
        add_res(*(n.resources for n in nodes)),
        slowest.name,
    )


def cond_buffer_specs(
    exit_after: list[int], ests: dict[str, PartitionEstimate], depth_frames: int | None = None
) -> list[dict]:
    """The conditional buffer after each stage with a non-final exit: size and resources.

    `depth_frames` (hw.cond_buffer_frames) sets every buffer's depth; None sizes each for its
    decision latency alone, which stalls the stage during runs of continuing frames that the
    next, slower-folded stage cannot take at once (the simulator reports the depth runs need).
    """
    out = []
    for e, k in enumerate(exit_after[:-1]):
        stage, head, dec = ests[f"stage{k}"], ests[f"head{e}"], ests[f"decision{e}"]
        hide = cond_buffer_depth(stage, head.latency_cycles + dec.latency_cycles)
        depth = hide if depth_frames is None else depth_frames
        if depth < hide:
            log.warning(
                "cbuf%d: %d frames (hw.cond_buffer_frames) do not hide the decision latency; "
                "stage%d will stall for every frame beyond them (%d would hide it)",
                k,
                depth,
                k,
                hide,
            )
        block = rtl_blocks.cond_buffer(stage.out_width_bits, stage.out_beats, depth)
        out.append(
            {
                "name": f"cbuf{k}",
                "after": f"stage{k}",
                "feeds": f"stage{k + 1}",
                "decision": f"decision{e}",
                "frame_beats": stage.out_beats,
                "width_bits": stage.out_width_bits,
                "depth_frames": depth,
                "cycles_per_frame": block.cycles_per_frame,
                "latency_cycles": block.latency_cycles,
                "resources": _res(block.resources()) | {"FF": float(block.ff)},
            }
        )
    return out


def cond_buffer_depth(stage: PartitionEstimate, branch_latency: int) -> int:
    """Frames a conditional buffer holds so that stage k never stalls waiting for a decision:
    the frames stage k emits while the head and decision of its oldest frame are still busy,
    plus one being written."""
    return max(2, math.ceil(branch_latency / max(1, stage.cycles_per_frame)) + 1)
