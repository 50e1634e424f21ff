"""build/hwdesc.json: the hardware description the simulator reads (docs/hwdesc.md).

Fields beyond the documented schema (all additive): per partition `rate_fraction`,
`target_cycles`, `bottleneck`; per stream `dst_width_bits`, `dst_beats_per_frame` and `through`
(the conditional buffer a stage-to-stage stream passes); per cond buffer `cycles_per_frame`,
`latency_cycles`, `resources`; `baseline.partitions` and `baseline.target_cycles`;
`decision_impl`.
"""

from __future__ import annotations

from pathlib import Path

from exitflow.core import policies
from exitflow.core.files import write_json
from exitflow.hw.design import Design, PartitionSpec
from exitflow.hw.estimates import PartitionEstimate, add_res

SCHEMA = "exitflow.hwdesc/1"


def encode_threshold(t: int | None) -> int | str:
    """Integer T as JSON, quant.policies' encoding: "inf" never fires, "-inf" always fires."""
    if t is None:
        return "inf"
    return "-inf" if t <= policies.INT64_MIN else int(t)


def _part(p: PartitionSpec, est: PartitionEstimate, target: int | None) -> dict:
    d = {
        "name": p.name.removeprefix("base_"),
        "kind": p.kind,
        "exit": p.exit,
        "in_beats": est.in_beats,
        "in_width_bits": est.in_width_bits,
        "out_beats": est.out_beats,
        "out_width_bits": est.out_width_bits,
        "cycles_per_frame": est.cycles_per_frame,
        "latency_cycles": est.latency_cycles,
        "nodes": [n.to_dict() for n in est.nodes],
        "resources": est.resources,
        "rate_fraction": p.rate_fraction,
        "target_cycles": target,
        "bottleneck": est.bottleneck,
    }
    if p.reads:
        d["reads"] = p.reads.removeprefix("base_")
    return d


def _stream(src: PartitionEstimate, dst: PartitionEstimate, depth: int, through=None) -> dict:
    s = {
        "name": f"{src.name}->{dst.name}",
        "src": src.name,
        "dst": dst.name,
        "beats_per_frame": src.out_beats,
        "width_bits": src.out_width_bits,
        "dst_beats_per_frame": dst.in_beats,
        "dst_width_bits": dst.in_width_bits,
        "fifo_depth": depth,
    }
    if through:
        s["through"] = through
    return s


def _verdict_stream(dec: PartitionEstimate, cbuf: dict, fifo_depth: int) -> dict:
    """Decision unit -> conditional buffer: one verdict per frame. Deep enough for a verdict per
    frame the buffer holds, so verdicts of frames still entering never block the decision unit
    (and through the fork, the stage)."""
    return {
        "name": f"{dec.name}->{cbuf['name']}",
        "src": dec.name,
        "dst": cbuf["name"],
        "beats_per_frame": dec.out_beats,
        "width_bits": dec.out_width_bits,
        "dst_beats_per_frame": dec.out_beats,
        "dst_width_bits": dec.out_width_bits,
        "fifo_depth": max(fifo_depth, cbuf["depth_frames"]),
    }


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
    """The hwdesc dict of a built design (gated partitions, streams, buffers, baseline)."""
    gated = design.gated()
    parts = []
    for p in gated:
        d = _part(p, ests[p.name], targets.get(p.name))
        if p.kind == "decision":
            d["policy"] = design.policy.kind
            d["threshold"] = encode_threshold(p.threshold)
        parts.append(d)
    exits = []
    for e, k in enumerate(design.exit_after):
        last = e == len(design.exit_after) - 1
        exits.append(
            {
                "index": e,
                "after": f"stage{k}",
                "head": f"head{e}",
                "decision": None if last else f"decision{e}",
            }
        )
    streams = []
    cbuf_after = {c["after"]: c["name"] for c in cbufs}
    for p in gated:
        if p.reads is None:
            continue
        through = cbuf_after.get(p.reads) if p.kind == "stage" else None
        streams.append(_stream(ests[p.reads], ests[p.name], fifo_depth, through))
    streams += [_verdict_stream(ests[c["decision"]], c, fifo_depth) for c in cbufs]
    base = design.baseline()
    desc = {
        "schema": SCHEMA,
        "design": design.name,
        "board": board,
        "clock_mhz": clock_mhz,
        "num_classes": design.num_classes,
        "decision_impl": impl,
        "policy": {
            "kind": design.policy.kind,
            "thresholds": [encode_threshold(t) for t in design.thresholds],
            "params": design.policy.params,
        },
        "partitions": parts,
        "exits": exits,
        "streams": streams,
        "cond_buffers": cbufs,
        "finn_estimate": no_exit_estimate([ests[p.name] for p in gated], cbufs, clock_mhz),
    }
    if base and all(p.name in ests for p in base):
        bests = [ests[p.name] for p in base]
        desc["baseline"] = {
            "cycles_per_frame": max(b.cycles_per_frame for b in bests),
            "latency_cycles": sum(b.latency_cycles for b in bests),
            "resources": add_res(*(b.resources for b in bests)),
            "target_cycles": targets.get(base[0].name),
            "partitions": [_part(p, ests[p.name], targets.get(p.name)) for p in base],
        }
    return desc


def no_exit_estimate(gated: list[PartitionEstimate], cbufs: list[dict], clock_mhz: float) -> dict:
    """FINN's throughput with every frame continuing: the slowest partition or buffer."""
    cycles = max([e.cycles_per_frame for e in gated] + [c["cycles_per_frame"] for c in cbufs])
    return {"fps": clock_mhz * 1e6 / cycles, "cycles_per_frame": cycles}


def write_hwdesc(desc: dict, path: Path) -> Path:
    """Write hwdesc.json atomically."""
    return write_json(path, desc)
