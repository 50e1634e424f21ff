"""Reading and validating `build/hwdesc.json`, the contract between hw/ and sim/ (docs/hwdesc.md).

Stdlib only. Every error names the file, the entry and the fix, because the file is written by
another package (or by hand, for tests) and a wrong number here silently skews every figure.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exitflow.core.errors import ConfigError

SCHEMA = "exitflow.hwdesc/1"
KINDS = ("stage", "head", "decision")
_MISSING = object()


class HwDescError(ConfigError):
    """The hardware description is malformed or inconsistent."""


def _get(d: dict, key: str, kind: type | tuple, where: str, default: Any = _MISSING) -> Any:
    """d[key] checked against `kind`; a missing key takes `default` or raises naming `where`."""
    if key not in d or d[key] is None:
        if default is _MISSING:
            raise HwDescError(f"{where}: missing '{key}'")
        return default
    value = d[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise HwDescError(f"{where}: '{key}' must be {kinds[0].__name__}, got {value!r}")
    if float in kinds and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kinds):
        raise HwDescError(f"{where}: '{key}' must be {kinds[0].__name__}, got {value!r}")
    return value


def _count(d: dict, key: str, where: str, minimum: int = 1, default: Any = _MISSING) -> int:
    value = _get(d, key, int, where, default)
    if value is not None and value < minimum:
        raise HwDescError(f"{where}: '{key}' must be an integer >= {minimum}, got {value}")
    return value


def _resources(d: dict, where: str) -> dict[str, float]:
    res = _get(d, "resources", dict, where, {})
    out = {}
    for k, v in res.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise HwDescError(f"{where}: resources['{k}'] must be a number >= 0, got {v!r}")
        out[str(k)] = float(v)
    return out


@dataclass(frozen=True)
class NodeDesc:
    """One FINN node inside a partition (used when sim.inner_nodes is on)."""

    name: str
    op: str
    cycles_per_frame: int
    latency_cycles: int
    in_beats: int
    out_beats: int
    in_fifo_depth: int | None = None  # FIFO in front of this node inside the partition
    resources: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionDesc:
    """A FINN dataflow partition: backbone stage, exit head or exit-decision unit."""

    name: str
    kind: str
    exit: int | None
    reads: str | None
    in_beats: int
    out_beats: int
    cycles_per_frame: int
    latency_cycles: int
    nodes: tuple[NodeDesc, ...] = ()
    resources: dict[str, float] = field(default_factory=dict)
    threshold: float | None = None
    macs: int | None = None


@dataclass(frozen=True)
class ExitDesc:
    """Exit `index`: head reading stage `after`, and its decision unit (None for the last)."""

    index: int
    after: str
    head: str
    decision: str | None


@dataclass(frozen=True)
class StreamDesc:
    """An inter-partition AXI stream with its FIFO."""

    name: str
    src: str
    dst: str
    fifo_depth: int
    beats_per_frame: int | None = None


@dataclass(frozen=True)
class CondBufferDesc:
    """The conditional buffer after stage `after`, holding frames until `decision` arrives."""

    name: str
    after: str
    feeds: str | None
    decision: str | None
    frame_beats: int
    depth_frames: int
    resources: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class HwDesc:
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
    source: str = "<dict>"

    def partition(self, name: str) -> PartitionDesc:
        """The partition called `name` (KeyError-free: raises HwDescError naming the choices)."""
        for p in self.partitions:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.partitions)
        raise HwDescError(f"{self.source}: no partition named {name!r} (partitions: {known})")

    def stage_order(self) -> list[PartitionDesc]:
        """Backbone stages in data-flow order, following `reads` from the one fed by the input."""
        stages = [p for p in self.partitions if p.kind == "stage"]
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


def _node(d: Any, where: str) -> NodeDesc:
    if not isinstance(d, dict):
        raise HwDescError(f"{where}: expected an object, got {d!r}")
    return NodeDesc(
        name=_get(d, "name", str, where),
        op=_get(d, "op", str, where, ""),
        # 0: FINN gives no estimate (e.g. a width converter); raised to its beats when modelled
        cycles_per_frame=_count(d, "cycles_per_frame", where, minimum=0),
        latency_cycles=_count(d, "latency_cycles", where, minimum=0),
        in_beats=_count(d, "in_beats", where),
        out_beats=_count(d, "out_beats", where),
        in_fifo_depth=_count(d, "in_fifo_depth", where, default=None),
        resources=_resources(d, where),
    )


def _partition(d: Any, i: int) -> PartitionDesc:
    where = f"partitions[{i}]"
    if not isinstance(d, dict):
        raise HwDescError(f"{where}: expected an object, got {d!r}")
    name = _get(d, "name", str, where)
    where = f"partitions[{i}] ({name})"
    kind = _get(d, "kind", str, where)
    if kind not in KINDS:
        raise HwDescError(f"{where}: kind must be one of {list(KINDS)}, got {kind!r}")
    threshold = _get(d, "threshold", (float, int, str), where, None)
    if isinstance(threshold, str):
        if threshold not in ("inf", "-inf"):
            raise HwDescError(f"{where}: threshold must be a number or 'inf'/'-inf'")
        threshold = float(threshold)
    nodes = tuple(_node(n, f"{where}.nodes[{j}]") for j, n in enumerate(d.get("nodes") or []))
    return PartitionDesc(
        name=name,
        kind=kind,
        exit=_count(d, "exit", where, minimum=0, default=None),
        reads=_get(d, "reads", str, where, None),
        in_beats=_count(d, "in_beats", where),
        out_beats=_count(d, "out_beats", where),
        cycles_per_frame=_count(d, "cycles_per_frame", where),
        latency_cycles=_count(d, "latency_cycles", where, minimum=0),
        nodes=nodes,
        resources=_resources(d, where),
        threshold=None if threshold is None else float(threshold),
        macs=_count(d, "macs", where, minimum=0, default=None),
    )


def hwdesc_from_dict(data: Any, source: str = "<dict>") -> HwDesc:
    """Validate a parsed hwdesc.json; raises HwDescError naming the bad entry."""
    if not isinstance(data, dict):
        raise HwDescError(f"{source}: expected a JSON object")
    schema = data.get("schema")
    if schema != SCHEMA:
        raise HwDescError(f"{source}: schema is {schema!r}, this simulator reads {SCHEMA!r}")
    parts = data.get("partitions")
    if not isinstance(parts, list) or not parts:
        raise HwDescError(f"{source}: 'partitions' must be a non-empty list")
    partitions = tuple(_partition(p, i) for i, p in enumerate(parts))
    names = [p.name for p in partitions]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise HwDescError(f"{source}: partition names must be unique, repeated: {dup}")
    exits = []
    for i, e in enumerate(data.get("exits") or []):
        where = f"{source}: exits[{i}]"
        if not isinstance(e, dict):
            raise HwDescError(f"{where}: expected an object")
        exits.append(
            ExitDesc(
                index=_count(e, "index", where, minimum=0),
                after=_get(e, "after", str, where),
                head=_get(e, "head", str, where),
                decision=_get(e, "decision", str, where, None),
            )
        )
    exits.sort(key=lambda e: e.index)
    if [e.index for e in exits] != list(range(len(exits))) or not exits:
        raise HwDescError(f"{source}: exits must be indexed 0..E-1 without gaps (E >= 1)")
    streams = []
    for i, s in enumerate(data.get("streams") or []):
        where = f"{source}: streams[{i}]"
        if not isinstance(s, dict):
            raise HwDescError(f"{where}: expected an object")
        src, dst = _get(s, "src", str, where), _get(s, "dst", str, where)
        streams.append(
            StreamDesc(
                name=_get(s, "name", str, where, f"{src}->{dst}"),
                src=src,
                dst=dst,
                fifo_depth=_count(s, "fifo_depth", where),
                beats_per_frame=_count(s, "beats_per_frame", where, default=None),
            )
        )
    cbufs = []
    for i, c in enumerate(data.get("cond_buffers") or []):
        where = f"{source}: cond_buffers[{i}]"
        if not isinstance(c, dict):
            raise HwDescError(f"{where}: expected an object")
        cbufs.append(
            CondBufferDesc(
                name=_get(c, "name", str, where),
                after=_get(c, "after", str, where),
                feeds=_get(c, "feeds", str, where, None),
                decision=_get(c, "decision", str, where, None),
                frame_beats=_count(c, "frame_beats", where),
                depth_frames=_count(c, "depth_frames", where, minimum=0),
                resources=_resources(c, where),
            )
        )
    clock = _get(data, "clock_mhz", float, source)
    if not clock > 0:
        raise HwDescError(f"{source}: clock_mhz must be > 0, got {clock}")
    desc = HwDesc(
        design=_get(data, "design", str, source, "design"),
        clock_mhz=clock,
        num_classes=_count(data, "num_classes", source),
        partitions=partitions,
        exits=tuple(exits),
        streams=tuple(streams),
        cond_buffers=tuple(cbufs),
        policy=_get(data, "policy", dict, source, None),
        baseline=_get(data, "baseline", dict, source, None),
        finn_estimate=_get(data, "finn_estimate", dict, source, None),
        board=_get(data, "board", str, source, None),
        default_fifo_depth=_count(data, "default_fifo_depth", source, default=None),
        source=source,
    )
    _check_references(desc)
    return desc


def _check_references(desc: HwDesc) -> None:
    """Every name used by exits, streams and buffers must be a partition of the right kind."""
    kinds = {p.name: p.kind for p in desc.partitions}

    def need(name: str | None, kind: str, where: str) -> None:
        if name is not None and kinds.get(name) != kind:
            found = kinds.get(name)
            what = f"a {found}" if found else "not a partition"
            raise HwDescError(
                f"{desc.source}: {where} names {name!r}, which is {what}: need a {kind}"
            )

    for e in desc.exits:
        need(e.after, "stage", f"exits[{e.index}].after")
        need(e.head, "head", f"exits[{e.index}].head")
        need(e.decision, "decision", f"exits[{e.index}].decision")
        last = e.index == len(desc.exits) - 1
        if (e.decision is None) != last:
            fix = "the last exit has no decision unit" if last else "it needs a decision unit"
            raise HwDescError(f"{desc.source}: exits[{e.index}]: {fix}")
    ends = set(kinds) | {c.name for c in desc.cond_buffers} | {"input", "merge"}
    for s in desc.streams:
        for end in (s.src, s.dst):
            if end not in ends:
                raise HwDescError(
                    f"{desc.source}: stream {s.name} names {end!r}, which is no partition, "
                    "conditional buffer, 'input' or 'merge'"
                )
    desc.stage_order()  # raises if the backbone is not a chain


def load_hwdesc(path: str | Path) -> HwDesc:
    """Read and validate a hwdesc.json file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: run `exitflow build` first (or write one by hand, "
            "see docs/hwdesc.md)"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise HwDescError(f"{path} is not valid JSON: {exc}") from None
    return hwdesc_from_dict(data, str(path))
