"""Reading a hardware description: `hwdesc_from_dict` and `load_hwdesc` check every field and every
reference between entries of `build/hwdesc.json` (or a hand-written file) into the typed records
of exitflow.core.hwdesc. Stdlib only, as the records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exitflow.core.hwdesc import (
    SCHEMA,
    CondBufferDesc,
    ExitDesc,
    HwDesc,
    PartitionDesc,
    StreamDesc,
)
from exitflow.core.hwdesc_fields import (
    HwDescError,
    check_policy,
    get,
    get_count,
    get_resources,
    objects,
)
from exitflow.core.kinds import DecisionImpl

__all__ = ["hwdesc_from_dict", "load_hwdesc"]


def _baseline(data: dict, source: str) -> dict[str, Any] | None:
    base = get(data, "baseline", dict, source, None)
    if base is None:
        return None
    where = f"{source}: baseline"
    get_count(base, "cycles_per_frame", where)
    get_count(base, "latency_cycles", where, minimum=0)
    get_count(base, "target_cycles", where, default=None)
    get_resources(base, where)
    for j, p in objects(base, "partitions", where):
        PartitionDesc.from_dict(p, f"{where}.partitions[{j}]")
    return base


def _finn_estimate(data: dict, source: str) -> dict[str, Any] | None:
    est = get(data, "finn_estimate", dict, source, None)
    if est is not None:
        where = f"{source}: finn_estimate"
        if not get(est, "fps", float, where) > 0:
            raise HwDescError(f"{where}: 'fps' must be > 0, got {est['fps']}; rebuild")
        get_count(est, "cycles_per_frame", where)
    return est


def hwdesc_from_dict(data: Any, source: str = "<dict>") -> HwDesc:
    """Validate a parsed hwdesc.json; raises HwDescError naming the bad entry and field."""
    if not isinstance(data, dict):
        raise HwDescError(f"{source}: expected a JSON object")
    schema = data.get("schema")
    if schema != SCHEMA:
        raise HwDescError(
            f"{source}: schema is {schema!r}, this exitflow reads {SCHEMA!r}: rebuild with "
            "`exitflow build --force` (or set 'schema' in a hand-written file)"
        )
    parts = data.get("partitions")
    if not isinstance(parts, list) or not parts:
        raise HwDescError(f"{source}: 'partitions' must be a non-empty list")
    partitions = tuple(
        PartitionDesc.from_dict(p, f"{source}: partitions[{i}]") for i, p in enumerate(parts)
    )
    names = [p.name for p in partitions]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise HwDescError(f"{source}: partition names must be unique, repeated: {dup}")
    exits = sorted(
        (ExitDesc.from_dict(e, f"{source}: exits[{i}]") for i, e in objects(data, "exits", source)),
        key=lambda e: e.index,
    )
    if [e.index for e in exits] != list(range(len(exits))) or not exits:
        raise HwDescError(f"{source}: exits must be indexed 0..E-1 without gaps (E >= 1)")
    streams = [
        StreamDesc.from_dict(s, f"{source}: streams[{i}]")
        for i, s in objects(data, "streams", source)
    ]
    cbufs = [
        CondBufferDesc.from_dict(c, f"{source}: cond_buffers[{i}]")
        for i, c in objects(data, "cond_buffers", source)
    ]
    clock = get(data, "clock_mhz", float, source)
    if not clock > 0:
        raise HwDescError(f"{source}: clock_mhz must be > 0, got {clock}")
    impl = get(data, "decision_impl", str, source, None)
    if impl is not None and impl not in {i.value for i in DecisionImpl}:
        raise HwDescError(
            f"{source}: 'decision_impl' must be one of {[i.value for i in DecisionImpl]}, "
            f"got {impl!r}"
        )
    policy = get(data, "policy", dict, source, None)
    if policy is not None:
        check_policy(policy, f"{source}: policy")
    desc = HwDesc(
        design=get(data, "design", str, source, "design"),
        clock_mhz=clock,
        num_classes=get_count(data, "num_classes", source),
        partitions=partitions,
        exits=tuple(exits),
        streams=tuple(streams),
        cond_buffers=tuple(cbufs),
        policy=policy,
        baseline=_baseline(data, source),
        finn_estimate=_finn_estimate(data, source),
        board=get(data, "board", str, source, None),
        default_fifo_depth=get_count(data, "default_fifo_depth", source, default=None),
        decision_impl=None if impl is None else DecisionImpl(impl),
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
    for i, c in enumerate(desc.cond_buffers):
        need(c.after, "stage", f"cond_buffers[{i}].after")
        need(c.feeds, "stage", f"cond_buffers[{i}].feeds")
        need(c.decision, "decision", f"cond_buffers[{i}].decision")
    buffers = {c.name for c in desc.cond_buffers}
    ends = set(kinds) | buffers | {"input", "merge"}
    for s in desc.streams:
        for end in (s.src, s.dst):
            if end not in ends:
                raise HwDescError(
                    f"{desc.source}: stream {s.name} names {end!r}, which is no partition, "
                    "conditional buffer, 'input' or 'merge'"
                )
        if s.through is not None and s.through not in buffers:
            raise HwDescError(
                f"{desc.source}: stream {s.name} passes through {s.through!r}, which is no "
                f"conditional buffer (they are {sorted(buffers)}): fix 'through'"
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
