"""Config section of the cycle-level simulator (stdlib only)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from exitflow.core.schema import check, opt


class Arrival(StrEnum):
    """How input frames arrive."""

    SATURATED = "saturated"
    PERIODIC = "periodic"
    TRACE = "trace"


@dataclass
class SimConfig:
    """Simulation of the gated dataflow."""

    arrival: Arrival = opt(Arrival.SATURATED, "input arrival process")
    period_cycles: int = opt(1000, "cycles between frames for periodic arrival")
    trace_path: str | None = opt(None, "file of arrival cycles, one per line, for trace arrival")
    frames: int | None = opt(None, "simulate at most this many frames; None: the whole test set")
    cond_buffer_frames: int | None = opt(
        None, "conditional-buffer depth in frames for every buffer; None: as built (hwdesc)"
    )
    fifo_depths: dict[str, int] = opt({}, "per-stream FIFO depth overrides, by stream name")
    trace_window: list[int] | None = opt(
        None, "[first, last] cycle to dump as a trace (either order)"
    )
    inner_nodes: bool = opt(False, "model each partition as the chain of its FINN nodes")
    size_buffers: bool = opt(True, "search the smallest buffer depths that lose no throughput")
    size_frames: int = opt(1000, "frames each buffer-size probe simulates (a full fast run each)")

    def __post_init__(self) -> None:
        check(self.period_cycles >= 1, "period_cycles must be >= 1")
        check(
            self.arrival != Arrival.TRACE or self.trace_path is not None,
            "arrival 'trace' needs sim.trace_path",
        )
        check(
            self.cond_buffer_frames is None or self.cond_buffer_frames >= 1,
            "cond_buffer_frames must be >= 1",
        )
        check(all(d >= 1 for d in self.fifo_depths.values()), "fifo_depths must be >= 1")
        check(
            self.trace_window is None
            or (len(self.trace_window) == 2 and min(self.trace_window) >= 0),
            "trace_window is [first_cycle, last_cycle], cycles >= 0",
        )
        check(self.frames is None or self.frames >= 1, "frames must be >= 1")
        check(self.size_frames >= 1, "size_frames must be >= 1")
