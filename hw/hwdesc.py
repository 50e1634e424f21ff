"""build/hwdesc.json: the hardware description the simulator reads (docs/hwdesc.md).

The schema (records, field names, checks, version) is exitflow.core.hwdesc, shared with the
reader: this module fills its records from the design and FINN's estimates, and refuses to write
a description the reader would refuse.
"""

from __future__ import annotations

from pathlib import Path

from exitflow.core import policies
from exitflow.core.files import write_json
from exitflow.core.hwdesc import (
    SCHEMA,
    CondBufferDesc,
    ExitDesc,
    HwDesc,
    NodeDesc,
    PartitionDesc,
    StreamDesc,
)
from exitflow.core.hwdesc_load import hwdesc_from_dict
from exitflow.core.kinds import DecisionImpl, PartitionKind
from exitflow.hw.flow.design import Design, PartitionSpec
from exitflow.hw.flow.estimates import PartitionEstimate, add_res

__all__ = ["SCHEMA", "build_hwdesc", "encode_threshold", "no_exit_estimate", "write_hwdesc"]


def encode_threshold(t: int | None) -> int | str:
    """Integer T as JSON, quant.policies' encoding: "inf" never fires, "-inf" always fires."""
    if t is None:
        return "inf"
    return "-inf" if t <= policies.INT64_MIN else int(t)


def _threshold(t: int | None) -> float:
    """Integer T as the record holds it (+inf never fires, -inf always)."""
    enc = encode_threshold(t)
    return float(enc)


def _part(p: PartitionSpec, est: PartitionEstimate, target: int | None, policy: str | None):
    decision = p.kind == PartitionKind.DECISION
    return PartitionDesc(
        name=p.name.removeprefix("base_"),
        kind=PartitionKind(p.kind),
        exit=p.exit,
        reads=p.reads.removeprefix("base_") if p.reads else None,
        in_beats=est.in_beats,
        out_beats=est.out_beats,
        cycles_per_frame=est.cycles_per_frame,
        latency_cycles=est.latency_cycles,
        in_width_bits=est.in_width_bits,
        out_width_bits=est.out_width_bits,
        nodes=tuple(NodeDesc.from_dict(n.to_dict(), f"{p.name}/{n.name}") for n in est.nodes),
        resources=dict(est.resources),
        rate_fraction=p.rate_fraction,
        target_cycles=target,
        bottleneck=est.bottleneck,
        policy=policy if decision else None,
        threshold=_threshold(p.threshold) if decision else None,
    )


def _stream(
    src: PartitionEstimate, dst: PartitionEstimate, depth: int, through: str | None = None
) -> StreamDesc:
    return StreamDesc(
        name=f"{src.name}->{dst.name}",
        src=src.name,
        dst=dst.name,
        fifo_depth=depth,
        beats_per_frame=src.out_beats,
        width_bits=src.out_width_bits,
        dst_beats_per_frame=dst.in_beats,
        dst_width_bits=dst.in_width_bits,
        through=through,
    )


def _verdict_stream(dec: PartitionEstimate, cbuf: CondBufferDesc, fifo_depth: int) -> StreamDesc:
    """Decision unit -> conditional buffer: one verdict per frame. Deep enough for a verdict per
    frame the buffer holds, so verdicts of frames still entering never block the decision unit
    (and through the fork, the stage)."""
    return StreamDesc(
        name=f"{dec.name}->{cbuf.name}",
        src=dec.name,
        dst=cbuf.name,
        fifo_depth=max(fifo_depth, cbuf.depth_frames),
        beats_per_frame=dec.out_beats,
        width_bits=dec.out_width_bits,
        dst_beats_per_frame=dec.out_beats,
        dst_width_bits=dec.out_width_bits,
    )


def build_hwdesc(
    design: Design,
    ests: dict[str, PartitionEstimate],
    cbufs: list[dict],
    targets: dict[str, int],
    board: str,
    clock_mhz: float,
    fifo_depth: int,
    impl: str,
) -> dict:
    """The hwdesc dict of a built design (gated partitions, streams, buffers, baseline);
    checked by the reader's own validation before it is returned."""
    gated = design.gated()
    kind = str(design.policy.kind)
    parts = [_part(p, ests[p.name], targets.get(p.name), kind) for p in gated]
    last = len(design.exit_after) - 1
    exits = [
        ExitDesc(e, f"stage{k}", f"head{e}", None if e == last else f"decision{e}")
        for e, k in enumerate(design.exit_after)
    ]
    buffers = [CondBufferDesc.from_dict(c, f"cond_buffers[{i}]") for i, c in enumerate(cbufs)]
    cbuf_after = {c.after: c.name for c in buffers}
    streams = []
    for p in gated:
        if p.reads is None:
            continue
        through = cbuf_after.get(p.reads) if p.kind == PartitionKind.STAGE else None
        streams.append(_stream(ests[p.reads], ests[p.name], fifo_depth, through))
    streams += [_verdict_stream(ests[c.decision], c, fifo_depth) for c in buffers if c.decision]
    base = design.baseline()
    baseline = None
    if base and all(p.name in ests for p in base):
        bests = [ests[p.name] for p in base]
        baseline = {
            "cycles_per_frame": max(b.cycles_per_frame for b in bests),
            "latency_cycles": sum(b.latency_cycles for b in bests),
            "resources": add_res(*(b.resources for b in bests)),
            "target_cycles": targets.get(base[0].name),
            "partitions": [
                _part(p, ests[p.name], targets.get(p.name), kind).to_dict() for p in base
            ],
        }
    desc = HwDesc(
        design=design.name,
        clock_mhz=float(clock_mhz),
        num_classes=design.num_classes,
        partitions=tuple(parts),
        exits=tuple(exits),
        streams=tuple(streams),
        cond_buffers=tuple(buffers),
        policy={
            "kind": kind,
            "thresholds": [encode_threshold(t) for t in design.thresholds],
            "params": design.policy.params,
        },
        baseline=baseline,
        finn_estimate=no_exit_estimate([ests[p.name] for p in gated], cbufs, clock_mhz),
        board=board,
        decision_impl=DecisionImpl(impl),
    )
    data = desc.to_dict()
    hwdesc_from_dict(data, "the hwdesc.json being written")  # the reader's checks, before writing
    return data


def no_exit_estimate(gated: list[PartitionEstimate], cbufs: list[dict], clock_mhz: float) -> dict:
    """FINN's throughput with every frame continuing: the slowest partition or buffer."""
    cycles = max([e.cycles_per_frame for e in gated] + [c["cycles_per_frame"] for c in cbufs])
    return {"fps": clock_mhz * 1e6 / cycles, "cycles_per_frame": cycles}


def write_hwdesc(desc: dict, path: Path) -> Path:
    """Write hwdesc.json atomically."""
    return write_json(path, desc)
