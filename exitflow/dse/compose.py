"""A candidate design as the simulator sees it (an exitflow.core.hwdesc.HwDesc) and its resources.

The partitions come folded from exitflow.dse.partfold (one estimate per partition and target);
exits left out of a candidate lose their head, decision unit, conditional buffer and fork, and
the stages around them join one segment. Resources count everything the accelerator holds:
FINN partitions, conditional buffers, the decision units, one FIFO per inter-partition stream,
the stream forks and the output merge (exitflow.hw.ops estimates, fitted to yosys).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exitflow.core.hwdesc import (
    CondBufferDesc,
    ExitDesc,
    HwDesc,
    PartitionDesc,
    StreamDesc,
    threshold_to_json,
)
from exitflow.core.hwdesc_load import hwdesc_from_dict
from exitflow.core.kinds import PartitionKind

__all__ = [
    "FRACTION_KEYS",
    "Topology",
    "compose",
    "resource_fraction",
]

# ATHEENA's resource fraction: the largest of these used / available (URAM where a board has it)
FRACTION_KEYS = ("LUT", "FF", "BRAM_18K", "URAM", "DSP")
MERGE_ID_BITS = 16


@dataclass(frozen=True)
class Topology:
    """The trained network as the hardware sees it: stages, exits and compute per partition."""

    num_stages: int
    exit_after: tuple[int, ...]  # stage each exit reads, depth order, last = the final exit
    macs: dict[str, int]  # stage<k> / head<e> -> MACs per frame
    num_classes: int
    design: str = "design"
    stage_of: dict[int, int] = field(default_factory=dict)

    def segments(self, keep: tuple[int, ...]) -> list[tuple[int, list[int]]]:
        """(exit, stages of its segment) for the kept exits (the final exit always kept)."""
        out, first = [], 0
        for e in [*keep, len(self.exit_after) - 1]:
            last = self.exit_after[e]
            out.append((e, list(range(first, last + 1))))
            first = last + 1
        return out

    def bound(self, keep: tuple[int, ...], reach: list[float]) -> float:
        """1 / sum_k f_k P_k: f_k the MACs of segment k (its stages and head) over the
        single-exit baseline's (all stages and the final head), P_k the fraction reaching it."""
        last = len(self.exit_after) - 1
        base = sum(self.macs[f"stage{k}"] for k in range(self.num_stages))
        base += self.macs[f"head{last}"]
        cost = 0.0
        for p, (e, stages) in zip(reach, self.segments(keep)):
            cost += p * (sum(self.macs[f"stage{k}"] for k in stages) + self.macs[f"head{e}"])
        return base / cost


def _part(est: dict, name: str, kind: PartitionKind, exit_: int | None, reads: str | None,
          macs: int | None, threshold: float | None = None, policy: str | None = None
          ) -> PartitionDesc:  # fmt: skip
    return PartitionDesc(
        name=name,
        kind=kind,
        exit=exit_,
        reads=reads,
        in_beats=est["in_beats"],
        out_beats=est["out_beats"],
        cycles_per_frame=est["cycles_per_frame"],
        latency_cycles=est["latency_cycles"],
        in_width_bits=est["in_width_bits"],
        out_width_bits=est["out_width_bits"],
        resources=dict(est["resources"]),
        macs=macs,
        target_cycles=est.get("target_cycles"),
        bottleneck=est.get("bottleneck"),
        policy=policy,
        threshold=threshold,
    )


def _stream(src: dict, dst: dict, s: str, d: str, depth: int, through: str | None = None):
    return StreamDesc(
        name=f"{s}->{d}",
        src=s,
        dst=d,
        fifo_depth=depth,
        beats_per_frame=src["out_beats"],
        width_bits=src["out_width_bits"],
        dst_beats_per_frame=dst["in_beats"],
        dst_width_bits=dst["in_width_bits"],
        through=through,
    )


def _add(total: dict[str, float], res: Mapping[str, float]) -> None:
    for k, v in res.items():
        total[k] = total.get(k, 0.0) + float(v)


def compose(
    topo: Topology,
    ests: dict[str, dict],
    keep: tuple[int, ...],
    thresholds: list[float],
    policy: dict[str, Any],
    depth: int,
    fifo_depth: int,
    clock_mhz: float,
) -> tuple[HwDesc, dict[str, float]]:
    """The HwDesc of the gated design keeping non-final exits `keep`, and its resources.

    `ests` maps stage<k>, head<e> and decision<e> to folded estimates; thresholds are the
    integer thresholds of every non-final exit (the kept ones are used).
    """
    from exitflow.hw.ops import cond_buffer, fork, merge

    parts, exits, streams, bufs = [], [], [], []
    total: dict[str, float] = {}
    segs = topo.segments(keep)
    prev_stage: str | None = None
    prev_buf: str | None = None
    for i, (e, stages) in enumerate(segs):
        for k in stages:
            name = f"stage{k}"
            parts.append(_part(ests[name], name, PartitionKind.STAGE, i, prev_stage,
                               topo.macs.get(name)))  # fmt: skip
            if prev_stage is not None:
                streams.append(_stream(ests[prev_stage], ests[name], prev_stage, name,
                                       fifo_depth, prev_buf))  # fmt: skip
            prev_stage, prev_buf = name, None
        assert prev_stage is not None
        head = f"head{e}"
        parts.append(
            _part(ests[head], head, PartitionKind.HEAD, i, prev_stage, topo.macs.get(head))
        )
        streams.append(_stream(ests[prev_stage], ests[head], prev_stage, head, fifo_depth))
        last = i == len(segs) - 1
        dec = None if last else f"decision{e}"
        exits.append(ExitDesc(i, prev_stage, head, dec))
        if dec is not None:
            parts.append(_part(ests[dec], dec, PartitionKind.DECISION, i, head, None,
                               float(thresholds[e]), str(policy["kind"])))  # fmt: skip
            streams.append(_stream(ests[head], ests[dec], head, dec, fifo_depth))
            st = ests[prev_stage]
            block = cond_buffer.estimate(st["out_width_bits"], st["out_beats"], depth)
            buf = CondBufferDesc(
                name=f"cbuf{stages[-1]}",
                after=prev_stage,
                feeds=f"stage{stages[-1] + 1}",
                decision=dec,
                frame_beats=st["out_beats"],
                depth_frames=depth,
                width_bits=st["out_width_bits"],
                cycles_per_frame=block.cycles_per_frame,
                latency_cycles=block.latency_cycles,
                resources={k: float(v) for k, v in block.resources().items()},
            )
            bufs.append(buf)
            d = ests[dec]
            streams.append(StreamDesc(f"{dec}->{buf.name}", dec, buf.name, max(fifo_depth, depth),
                                      d["out_beats"], d["out_width_bits"], d["out_beats"],
                                      d["out_width_bits"]))  # fmt: skip
            prev_buf = buf.name
            _add(total, buf.resources)
            _add(total, fork.estimate().resources())
    for p in parts:
        _add(total, p.resources)
    for s in streams:  # one FIFO per stream, as the generated top instantiates them
        fifo = cond_buffer.estimate(int(s.width_bits or 1), 1, int(s.fifo_depth))
        _add(total, fifo.resources())
    if len(segs) > 1:
        class_bits = max(1, (topo.num_classes - 1).bit_length())
        _add(total, merge.estimate(len(segs), MERGE_ID_BITS, class_bits).resources())
    pol = {"kind": policy["kind"], "params": policy.get("params", {}),
           "thresholds": [threshold_to_json(thresholds[e]) for e, _ in segs[:-1]]}  # fmt: skip
    desc = HwDesc(
        design=topo.design,
        clock_mhz=float(clock_mhz),
        num_classes=topo.num_classes,
        partitions=tuple(parts),
        exits=tuple(exits),
        streams=tuple(streams),
        cond_buffers=tuple(bufs),
        policy=pol,
        default_fifo_depth=fifo_depth,
    )
    hwdesc_from_dict(desc.to_dict(), "a dse candidate")  # the reader's checks
    return desc, total


def resource_fraction(res: dict[str, float], board: dict[str, int]) -> tuple[float, str]:
    """max over LUT, FF, BRAM_18K, URAM, DSP of used / available, and the binding resource."""
    best, key = 0.0, "LUT"
    for k in FRACTION_KEYS:
        used = float(res.get(k, 0.0))
        avail = float(board.get(k, 0))
        frac = used / avail if avail else (0.0 if used == 0 else float("inf"))
        if frac > best:
            best, key = frac, k
    return best, key
