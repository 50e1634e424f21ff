"""Measured RTL timing (`build/rtl/timing.json`): what the simulator learns from the generated top.

FINN's analytical estimates in hwdesc.json (cycles per frame, latency) are not what FINN's RTL
layers do: on the tiny test design stage1's MVAU runs at 34,992 cycles per frame, not 25,088,
and a partition's first result leaves after a few thousand cycles, not the sum of its layers'
cycles. `exitflow.hw.top.measure_partition_timing` simulates every partition of the generated
top alone in Verilator and writes this file; `model_from_hwdesc(desc, timing=...)` then models
each measured partition by its measured beat schedule (`NodeTiming.from_schedule`) instead of
even pacing, adds the final exit's argmax unit, and uses the top's FIFO and buffer depths.
docs/simulator.md, "Measured RTL timing". numpy/stdlib only, like the rest of sim/.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exitflow.core.errors import ConfigError

__all__ = ["SCHEMA", "PartitionTiming", "RtlTiming", "load_rtl_timing", "rtl_timing_from_dict"]

SCHEMA = "exitflow.rtl_timing/1"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionTiming:
    """One partition measured alone: saturated input, no output back-pressure.

    in_offsets / out_offsets: cycle of every input word accepted and output word written for
    the first frame (empty pipeline), relative to its first input word; cycles_per_frame: the
    steady-state interval between frames' last output words. read_ahead: input words of the
    next frame a partition accepts in steady state before its first-frame schedule would start
    that frame (its last read of a frame + cycles_per_frame - in_offsets[-1]): FINN's layers
    buffer them (line buffers, an MVAU's input while it replays its weights); the simulator
    models them as a FIFO of that many words in front of the partition's schedule.
    """

    cycles_per_frame: int
    in_offsets: tuple[int, ...]
    out_offsets: tuple[int, ...]
    frames_measured: int = 0
    read_ahead: int = 0
    # one frame read slowly (the pipeline never lags its input): () when not measured
    starved_in_offsets: tuple[int, ...] = ()
    starved_out_offsets: tuple[int, ...] = ()
    # the last saturated frame's reads, in cycles after the previous frame's last read: how
    # its buffers take a frame in steady state (read ahead, then held): () when not measured
    steady_in_offsets: tuple[int, ...] = ()
    # an exit head's steady reads (same origin) fed by its stage as in the top: its pipeline
    # then frees its buffers sooner after a frame's last word than when saturated
    paired_in_offsets: tuple[int, ...] = ()
    # a stage's writes behind its exit head: how many cycles they catch up on their saturated
    # pattern after the head's hold (NodeTiming.wslack); 0 when not measured
    write_slack: int = 0
    # ... and how far (cycles of its saturated schedule) its reads go on after its first held
    # write of the frame (NodeTiming.fzk); -1 when not measured
    read_freeze: int = -1
    # ... and how many cycles its reads of a held frame ran ahead of its first frame's pattern
    # (0: none, they resume their schedule after a hold: NodeTiming paces them by their saturated
    # gaps); -1 when not measured
    read_slack: int = -1
    # ... and its reads held in the pair's last frame (a gap beyond their saturated one), each as
    # (read j, the frame's last write k before it, cycles d after it): read j waits for write k
    # of its frame by d (NodeTiming.fzk / fzd of those reads); () when not measured
    held_reads: tuple[tuple[int, int, int], ...] = ()

    @property
    def latency_cycles(self) -> int:
        """First input word to last output word of a frame in an empty pipeline."""
        return self.out_offsets[-1] - self.in_offsets[0]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (offsets as lists)."""
        return {
            "cycles_per_frame": self.cycles_per_frame,
            "latency_cycles": self.latency_cycles,
            "frames_measured": self.frames_measured,
            "read_ahead": self.read_ahead,
            "starved_in_offsets": list(self.starved_in_offsets),
            "starved_out_offsets": list(self.starved_out_offsets),
            "steady_in_offsets": list(self.steady_in_offsets),
            "paired_in_offsets": list(self.paired_in_offsets),
            "write_slack": self.write_slack,
            "read_freeze": self.read_freeze,
            "read_slack": self.read_slack,
            "held_reads": [list(h) for h in self.held_reads],
            "in_offsets": list(self.in_offsets),
            "out_offsets": list(self.out_offsets),
        }


@dataclass(frozen=True)
class RtlTiming:
    """Everything the simulator takes from the RTL top (see the module docstring)."""

    design: str
    partitions: dict[str, PartitionTiming]
    final_argmax: tuple[int, int] | None = None  # (cycles per frame, latency) of the argmax
    fifo_depths: dict[str, int] = field(default_factory=dict)  # the top's, by hwdesc stream
    cond_buffer_frames: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of timing.json."""
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "design": self.design,
            "partitions": {k: v.to_dict() for k, v in self.partitions.items()},
            "fifo_depths": dict(self.fifo_depths),
            "cond_buffer_frames": dict(self.cond_buffer_frames),
            **self.extra,
        }
        if self.final_argmax is not None:
            ii, lat = self.final_argmax
            out["final_argmax"] = {"cycles_per_frame": ii, "latency_cycles": lat}
        return out


def _ints(d: dict[str, Any], key: str, where: str) -> dict[str, int]:
    raw = d.get(key, {})
    if not isinstance(raw, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in raw.values()
    ):
        raise ConfigError(f"{where}: '{key}' must map names to integers >= 1")
    return dict(raw)


def _held_reads(raw: Any, reads: int, writes: int, w: str) -> tuple[tuple[int, int, int], ...]:
    try:
        held = tuple((int(j), int(k), int(d)) for j, k, d in raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{w}: held_reads must be [read, write, cycles] triples ({exc})"
        ) from None
    if any(not (0 < j < reads and 0 <= k < writes and d >= 1) for j, k, d in held):
        raise ConfigError(
            f"{w}: held_reads need 0 < read < {reads}, 0 <= write < {writes}, cycles >= 1"
        )
    return held


def rtl_timing_from_dict(d: dict[str, Any], where: str = "timing.json") -> RtlTiming:
    """Parse and check the JSON form; ConfigError names the entry and field."""
    if d.get("schema") != SCHEMA:
        raise ConfigError(f"{where}: schema {d.get('schema')!r}, expected {SCHEMA!r}")
    parts: dict[str, PartitionTiming] = {}
    for name, p in (d.get("partitions") or {}).items():
        w = f"{where}: partitions.{name}"
        try:
            ii = int(p["cycles_per_frame"])
            ins = tuple(int(x) for x in p["in_offsets"])
            outs = tuple(int(x) for x in p["out_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{w}: needs cycles_per_frame, in_offsets and out_offsets ({exc})"
            ) from None
        if ii < 1 or not ins or not outs:
            raise ConfigError(f"{w}: cycles_per_frame >= 1 and non-empty offsets expected")
        ahead = int(p.get("read_ahead", 0))
        if ahead < 0:
            raise ConfigError(f"{w}: read_ahead must be >= 0, got {ahead}")
        s_in = tuple(int(x) for x in p.get("starved_in_offsets", ()))
        s_out = tuple(int(x) for x in p.get("starved_out_offsets", ()))
        if (len(s_in), len(s_out)) not in ((0, 0), (len(ins), len(outs))):
            raise ConfigError(
                f"{w}: starved_in_offsets / starved_out_offsets need as many words as "
                "in_offsets / out_offsets (or none)"
            )
        steady = tuple(int(x) for x in p.get("steady_in_offsets", ()))
        paired = tuple(int(x) for x in p.get("paired_in_offsets", ()))
        if len(steady) not in (0, len(ins)) or len(paired) not in (0, len(steady)):
            raise ConfigError(
                f"{w}: steady_in_offsets (and paired_in_offsets with it) need as many words "
                "as in_offsets"
            )
        if "read_ahead" not in p or "starved_in_offsets" not in p:
            log.warning(
                "%s: measured by an older exitflow (no read_ahead / starved schedule): the "
                "simulator then models the partition as before. Fix: delete build/rtl/"
                "timing*.json and measure again",
                w,
            )
        slack = int(p.get("write_slack", 0))
        if slack < 0:
            raise ConfigError(f"{w}: write_slack must be >= 0, got {slack}")
        held = _held_reads(p.get("held_reads", ()), len(ins), len(outs), w)
        parts[name] = PartitionTiming(
            ii,
            ins,
            outs,
            int(p.get("frames_measured", 0)),
            ahead,
            s_in,
            s_out,
            steady,
            paired,
            slack,
            int(p.get("read_freeze", -1)),
            int(p.get("read_slack", -1)),
            held,
        )
    arg = d.get("final_argmax")
    final = None
    if arg is not None:
        final = (int(arg["cycles_per_frame"]), int(arg["latency_cycles"]))
    known = {"schema", "design", "partitions", "final_argmax", "fifo_depths", "cond_buffer_frames"}
    return RtlTiming(
        design=str(d.get("design", "")),
        partitions=parts,
        final_argmax=final,
        fifo_depths=_ints(d, "fifo_depths", where),
        cond_buffer_frames=_ints(d, "cond_buffer_frames", where),
        extra={k: v for k, v in d.items() if k not in known},
    )


def load_rtl_timing(path: str | Path) -> RtlTiming:
    """Read `build/rtl/timing.json` (or a run directory holding it)."""
    p = Path(path)
    if p.is_dir():
        p = p / "build" / "rtl" / "timing.json"
    if not p.is_file():
        raise ConfigError(
            f"{p} does not exist. Fix: run exitflow.hw.top.measure_partition_timing(run_dir) "
            "(it simulates each partition of the generated top in Verilator)."
        )
    return rtl_timing_from_dict(json.loads(p.read_text()), str(p))
