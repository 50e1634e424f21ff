"""The hardware description `build/hwdesc.json`: its schema, in one place (docs/hwdesc.md).

hw/ writes it (exitflow.hw.hwdesc builds these dataclasses and writes `HwDesc.to_dict()`), sim/
reads it (`exitflow.core.hwdesc_load.load_hwdesc`), and a hand-written file drives tests. Both sides go through the same
typed records and the same checks, so a field the writer adds or renames cannot drift from what
the reader expects. Stdlib only: the simulator stays free of torch and FINN.

Every error names the file, the entry, the field and the fix, because the file is written by
another package (or by hand) and a wrong number here silently skews every figure.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from exitflow.core.hwdesc_fields import (
    HwDescError,
    get,
    get_count,
    get_fraction,
    get_resources,
    get_threshold,
    objects,
)
from exitflow.core.kinds import DecisionImpl, PartitionKind

__all__ = [
    "SCHEMA",
    "CondBufferDesc",
    "ExitDesc",
    "HwDesc",
    "HwDescError",
    "NodeDesc",
    "PartitionDesc",
    "StreamDesc",
    "threshold_to_json",
]

SCHEMA = "exitflow.hwdesc/1"
KINDS = tuple(k.value for k in PartitionKind)


def threshold_to_json(t: float | None) -> int | float | str | None:
    """An integer threshold T as hwdesc.json holds it: "inf" never fires, "-inf" always does."""
    if t is None:
        return None
    if t in (float("inf"), float("-inf")):
        return "inf" if t > 0 else "-inf"
    return int(t) if float(t).is_integer() else t


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_dict()  # type: ignore[attr-defined]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _Record:
    """to_dict for the records below: fields in declared order; None dropped unless the schema
    documents the key as nullable (`_NULLABLE`)."""

    _NULLABLE: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name == "source" or (value is None and f.name not in self._NULLABLE):
                continue
            out[f.name] = threshold_to_json(value) if f.name == "threshold" else _plain(value)
        return out


@dataclass(frozen=True)
class NodeDesc(_Record):
    """One FINN node inside a partition (used when sim.inner_nodes is on)."""

    name: str
    op: str
    cycles_per_frame: int  # 0: FINN gives no estimate (e.g. a width converter)
    latency_cycles: int
    in_beats: int
    out_beats: int
    in_width_bits: int | None = None
    out_width_bits: int | None = None
    in_fifo_depth: int | None = None  # FIFO in front of this node inside the partition
    resources: dict[str, float] = field(default_factory=dict)
    folding: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict, where: str) -> NodeDesc:
        folding = get(d, "folding", dict, where, {})
        for k in folding:
            get_count(folding, k, f"{where}.folding")
        return cls(
            name=get(d, "name", str, where),
            op=get(d, "op", str, where, ""),
            cycles_per_frame=get_count(d, "cycles_per_frame", where, minimum=0),
            latency_cycles=get_count(d, "latency_cycles", where, minimum=0),
            in_beats=get_count(d, "in_beats", where),
            out_beats=get_count(d, "out_beats", where),
            in_width_bits=get_count(d, "in_width_bits", where, default=None),
            out_width_bits=get_count(d, "out_width_bits", where, default=None),
            in_fifo_depth=get_count(d, "in_fifo_depth", where, default=None),
            resources=get_resources(d, where),
            folding=dict(folding),
        )


@dataclass(frozen=True)
class PartitionDesc(_Record):
    """A FINN dataflow partition: backbone stage, exit head or exit-decision unit."""

    _NULLABLE = frozenset({"exit"})

    name: str
    kind: PartitionKind
    exit: int | None
    reads: str | None
    in_beats: int
    out_beats: int
    cycles_per_frame: int
    latency_cycles: int
    in_width_bits: int | None = None
    out_width_bits: int | None = None
    nodes: tuple[NodeDesc, ...] = ()
    resources: dict[str, float] = field(default_factory=dict)
    macs: int | None = None
    rate_fraction: float | None = None  # of the frames, that reach this partition (hw's folding)
    target_cycles: int | None = None  # cycles per frame it was folded for
    bottleneck: str | None = None  # its slowest node
    policy: str | None = None  # decision units: the policy kind
    threshold: float | None = None  # decision units: integer T (+inf never fires, -inf always)

    @classmethod
    def from_dict(cls, d: Any, where: str) -> PartitionDesc:
        if not isinstance(d, dict):
            raise HwDescError(f"{where}: expected an object, got {d!r}")
        name = get(d, "name", str, where)
        where = f"{where} ({name})"
        kind = get(d, "kind", str, where)
        if kind not in KINDS:
            raise HwDescError(f"{where}: 'kind' must be one of {list(KINDS)}, got {kind!r}")
        nodes = objects(d, "nodes", where)
        return cls(
            name=name,
            kind=PartitionKind(kind),
            exit=get_count(d, "exit", where, minimum=0, default=None),
            reads=get(d, "reads", str, where, None),
            in_beats=get_count(d, "in_beats", where),
            out_beats=get_count(d, "out_beats", where),
            cycles_per_frame=get_count(d, "cycles_per_frame", where),
            latency_cycles=get_count(d, "latency_cycles", where, minimum=0),
            in_width_bits=get_count(d, "in_width_bits", where, default=None),
            out_width_bits=get_count(d, "out_width_bits", where, default=None),
            nodes=tuple(NodeDesc.from_dict(n, f"{where}.nodes[{j}]") for j, n in nodes),
            resources=get_resources(d, where),
            macs=get_count(d, "macs", where, minimum=0, default=None),
            rate_fraction=get_fraction(d, "rate_fraction", where),
            target_cycles=get_count(d, "target_cycles", where, default=None),
            bottleneck=get(d, "bottleneck", str, where, None),
            policy=get(d, "policy", str, where, None),
            threshold=get_threshold(d, "threshold", where),
        )


@dataclass(frozen=True)
class ExitDesc(_Record):
    """Exit `index`: head reading stage `after`, and its decision unit (None for the last)."""

    _NULLABLE = frozenset({"decision"})

    index: int
    after: str
    head: str
    decision: str | None

    @classmethod
    def from_dict(cls, e: dict, where: str) -> ExitDesc:
        return cls(
            index=get_count(e, "index", where, minimum=0),
            after=get(e, "after", str, where),
            head=get(e, "head", str, where),
            decision=get(e, "decision", str, where, None),
        )


@dataclass(frozen=True)
class StreamDesc(_Record):
    """An inter-partition AXI stream with its FIFO (`through`: the buffer it passes)."""

    name: str
    src: str
    dst: str
    fifo_depth: int
    beats_per_frame: int | None = None
    width_bits: int | None = None
    dst_beats_per_frame: int | None = None  # what the reader takes (a width converter between)
    dst_width_bits: int | None = None
    through: str | None = None

    @classmethod
    def from_dict(cls, s: dict, where: str) -> StreamDesc:
        src, dst = get(s, "src", str, where), get(s, "dst", str, where)
        return cls(
            name=get(s, "name", str, where, f"{src}->{dst}"),
            src=src,
            dst=dst,
            fifo_depth=get_count(s, "fifo_depth", where),
            beats_per_frame=get_count(s, "beats_per_frame", where, default=None),
            width_bits=get_count(s, "width_bits", where, default=None),
            dst_beats_per_frame=get_count(s, "dst_beats_per_frame", where, default=None),
            dst_width_bits=get_count(s, "dst_width_bits", where, default=None),
            through=get(s, "through", str, where, None),
        )


@dataclass(frozen=True)
class CondBufferDesc(_Record):
    """The conditional buffer after stage `after`, holding frames until `decision` arrives."""

    name: str
    after: str
    feeds: str | None
    decision: str | None
    frame_beats: int
    depth_frames: int
    width_bits: int | None = None
    cycles_per_frame: int | None = None
    latency_cycles: int | None = None
    resources: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, c: dict, where: str) -> CondBufferDesc:
        depth = get(c, "depth_frames", int, where)
        if depth < 1:
            # A buffer that holds no frame cannot take beat 0 of one: the stage would stall
            # forever. Refused here rather than found as a deadlock in simulation.
            raise HwDescError(
                f"{where}: 'depth_frames' must be >= 1 (a buffer must hold the whole frame the "
                f"decision waits for), got {depth}; set it to at least 1, or rebuild with "
                "hw.cond_buffer_frames unset (sized to hide the decision latency)"
            )
        return cls(
            name=get(c, "name", str, where),
            after=get(c, "after", str, where),
            feeds=get(c, "feeds", str, where, None),
            decision=get(c, "decision", str, where, None),
            frame_beats=get_count(c, "frame_beats", where),
            depth_frames=depth,
            width_bits=get_count(c, "width_bits", where, default=None),
            cycles_per_frame=get_count(c, "cycles_per_frame", where, default=None),
            latency_cycles=get_count(c, "latency_cycles", where, minimum=0, default=None),
            resources=get_resources(c, where),
        )


@dataclass(frozen=True)
class HwDesc(_Record):
    """The whole gated design as built (or as hand-written for tests)."""

    design: str
    clock_mhz: float
    num_classes: int
    partitions: tuple[PartitionDesc, ...]
    exits: tuple[ExitDesc, ...]
    streams: tuple[StreamDesc, ...]
    cond_buffers: tuple[CondBufferDesc, ...]
    policy: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    finn_estimate: dict[str, Any] | None = None
    board: str | None = None
    default_fifo_depth: int | None = None
    decision_impl: DecisionImpl | None = None
    source: str = "<dict>"

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, `schema` first (hwdesc_from_dict(to_dict()) == self)."""
        return {"schema": SCHEMA, **super().to_dict()}

    def partition(self, name: str) -> PartitionDesc:
        """The partition called `name` (KeyError-free: raises HwDescError naming the choices)."""
        for p in self.partitions:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.partitions)
        raise HwDescError(f"{self.source}: no partition named {name!r} (partitions: {known})")

    def stage_order(self) -> list[PartitionDesc]:
        """Backbone stages in data-flow order, following `reads` from the one fed by the input."""
        stages = [p for p in self.partitions if p.kind is PartitionKind.STAGE]
        by_src: dict[str | None, list[PartitionDesc]] = {}
        for s in stages:
            by_src.setdefault(s.reads, []).append(s)
        order, src = [], None
        while src in by_src:
            nxt = by_src.pop(src)
            if len(nxt) != 1:
                names = [s.name for s in nxt]
                raise HwDescError(
                    f"{self.source}: stages {names} all read {src or 'the input'}: the backbone "
                    "must be a chain (one stage per source)"
                )
            order.append(nxt[0])
            src = nxt[0].name
        if len(order) != len(stages):
            lost = sorted({s.name for s in stages} - {s.name for s in order})
            raise HwDescError(
                f"{self.source}: stages {lost} are not reachable from the input: fix their 'reads'"
            )
        return order

    def stream_between(self, src: str, dst: str) -> StreamDesc | None:
        """The stream from partition `src` to `dst`, if described."""
        for s in self.streams:
            if s.src == src and s.dst == dst:
                return s
        return None

    def cond_buffer_after(self, stage: str) -> CondBufferDesc | None:
        """The conditional buffer fed by `stage`, if any."""
        for c in self.cond_buffers:
            if c.after == stage:
                return c
        return None
