"""Smallest buffer depths that lose no throughput, by search with the fast engine.

"No throughput lost" means the same last-result cycle as with every buffer unbounded, for the
given exit sequence and arrivals. Buffers are sized one at a time, each by bisection with the
ones already sized fixed and the rest unbounded, so the final set, all fixed together, loses
nothing by construction. The order puts the backlog where the design means it to sit: first
the data FIFOs in pipeline order (a conditional buffer still unbounded holds the frames waiting
for the next stage), then the decision FIFOs (pending decisions of the frames held), then the
conditional buffers. Makespan is monotone in every depth (a deeper buffer only relaxes
constraints), which makes bisection valid; the upper end grows until it is enough.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from exitflow.sim.model import Model
from exitflow.sim.run import simulate

log = logging.getLogger(__name__)

UNBOUNDED = 1 << 40  # a depth no run can fill
MIN_FIFO_DEPTH = 2  # FINN's smallest stream FIFO (a 1-deep one halves a full-rate stream)


@dataclass
class SizingResult:
    """Minimal depths: FIFOs in beats, conditional buffers in frames."""

    fifo_beats: dict[str, int]
    cbuf_frames: dict[str, int]
    makespan_cycles: int  # last result cycle + 1, unbounded and with the sized depths
    probes: int

    def as_dict(self) -> dict:
        return {
            "fifo_beats": self.fifo_beats,
            "cond_buffer_frames": self.cbuf_frames,
            "makespan_cycles": self.makespan_cycles,
            "probes": self.probes,
        }


def _makespan(model: Model, exit_index: np.ndarray, arrival: np.ndarray) -> tuple[int, dict]:
    r = simulate(model, exit_index, arrival)
    return r.cycles, r.max_occupancy


def size_buffers(
    model: Model,
    exit_index: np.ndarray,
    arrival: np.ndarray | None = None,
    tick: Callable[[], None] | None = None,
) -> SizingResult:
    """Search the smallest depth of every buffer that keeps the unbounded makespan."""
    exit_index = np.asarray(exit_index, np.int64)
    arrival = np.zeros(len(exit_index), np.int64) if arrival is None else np.asarray(arrival)
    fifos = [ln.name for ln in model.links()]
    cbufs = [s.cbuf for s in model.segments if s.cbuf is not None]
    fifo = dict.fromkeys(fifos, UNBOUNDED)
    frames = {c.name: UNBOUNDED // c.frame_beats for c in cbufs}
    probes = 0

    def run(f: dict, c: dict) -> tuple[int, dict]:
        nonlocal probes
        probes += 1
        return _makespan(model.with_depths(fifo=f, cbuf_frames=c), exit_index, arrival)

    target, occ = run(fifo, frames)

    def smallest(start: int, ok: Callable[[int], bool], lo: int = 1) -> int:
        """Smallest d >= lo with ok(d): grow the upper end from `start`, then bisect."""
        hi = max(lo, start)
        while not ok(hi):
            hi *= 2
        while lo < hi:
            mid = (lo + hi) // 2
            if ok(mid):
                hi = mid
            else:
                lo = mid + 1
        return lo

    verdicts = {s.verdict.name for s in model.segments if s.verdict is not None}
    order = [n for n in fifos if n not in verdicts] + [n for n in fifos if n in verdicts]

    def fifo_ok(name: str) -> Callable[[int], bool]:
        return lambda d: run({**fifo, name: d}, frames)[0] == target

    def cbuf_ok(name: str) -> Callable[[int], bool]:
        return lambda d: run(fifo, {**frames, name: d})[0] == target

    for name in order:
        fifo[name] = smallest(occ[name], fifo_ok(name), MIN_FIFO_DEPTH)
        if tick:
            tick()
    for c in cbufs:
        start = max(math.ceil(occ[c.name] / c.frame_beats), 1)
        frames[c.name] = smallest(start, cbuf_ok(c.name))
        if tick:
            tick()
    return SizingResult(fifo, frames, target, probes)


def sizing_probe_count(model: Model) -> int:
    """Buffers to size (for a progress bar)."""
    return len(model.links()) + sum(1 for s in model.segments if s.cbuf is not None)
