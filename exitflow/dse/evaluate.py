"""Figures of one candidate: the simulator's throughput and latency on the validation exits.

The throughput is sim/'s (fast engine, saturated input) on the real exit sequence of the
validation set under the candidate's thresholds, in steady state (`steady_fps`: the middle 80%
of the frames, as the baseline's f_clk / II is; the span's figure is kept as `span_fps`); the
test set is kept for the final figures.
Worst-case throughput (no frame exits) is the static dataflow's f_clk / largest initiation
interval of any partition or buffer; with load shedding (exitflow.sim.shedding) a design sheds
frames at an exit whose buffer is full, so its validation run may force frames out early (their
exits are returned, so the caller can score them) and its no-exit stream is simulated. A
shedding design is judged at a service rate, not saturated: saturated, every buffer in front
of a busy stage fills and sheds frames of an ordinary stream too. `service_ladder` simulates
it with frames arriving periodically at fractions of its own saturated throughput without
shedding (`SERVICE_LADDER`), so the caller can keep the fastest rate whose forced frames
cost no more accuracy than allowed. A throughput above f_clk / (cycles per frame of stage 0,
which every frame passes) is a bug and raises.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from exitflow.core.errors import SimulationError
from exitflow.core.hwdesc import HwDesc
from exitflow.sim.analysis import latency, throughput_fps
from exitflow.sim.design import model_from_hwdesc
from exitflow.sim.run import simulate
from exitflow.sim.shedding import noexit_fps

__all__ = [
    "SERVICE_LADDER",
    "BoundError",
    "evaluate_design",
    "no_exit_fps",
    "service_ladder",
    "steady_fps",
]

# arrival rates a shedding design is tried at, as fractions of its saturated no-shedding rate
SERVICE_LADDER = (1.0, 0.97, 0.94, 0.9, 0.85)
WORST_FRAMES = 400  # saturated no-exit frames for a shedding design's worst-case throughput
STEADY_WINDOW = (0.1, 0.9)  # quantiles of the frames whose finish (and start) cycles count
STEADY_MIN_FRAMES = 50


class BoundError(SimulationError):
    """A figure past a physical bound: a bug in the search or its inputs, never a result."""


def no_exit_fps(desc: HwDesc) -> float:
    """Throughput when no frame exits: the slowest partition or conditional buffer decides."""
    cycles = [p.cycles_per_frame for p in desc.partitions]
    cycles += [int(c.cycles_per_frame or 0) for c in desc.cond_buffers]
    return desc.clock_mhz * 1e6 / max(cycles)


def evaluate_design(
    desc: HwDesc,
    exit_index: np.ndarray,
    shedding: bool = False,
    timing: Any = None,
    period_cycles: int | None = None,
    worst: bool = True,
) -> dict[str, Any]:
    """fps, latency (p50/p99 in µs) and the no-exit fps of `desc` on `exit_index` (saturated,
    or one frame every `period_cycles`); with `shedding`, also the frames forced out (and every
    frame's exit) and, with `worst`, the no-exit stream's throughput with shedding (saturated).
    `timing`: measured partition timing (exitflow.sim.rtl_timing)."""
    model = replace(model_from_hwdesc(desc, timing=timing), shedding=shedding)
    n = len(exit_index)
    arrival = None if period_cycles is None else np.arange(n, dtype=np.int64) * period_cycles
    r = simulate(model, exit_index, arrival, keep_events=False)
    span_fps = throughput_fps(r, desc.clock_mhz)
    fps = steady_fps(r, desc.clock_mhz)
    first = desc.stage_order()[0]
    ceiling = desc.clock_mhz * 1e6 / first.cycles_per_frame
    if max(fps, span_fps) > ceiling * (1 + 1e-9):
        raise BoundError(
            f"simulated {max(fps, span_fps):.1f} frames/s exceeds f_clk / II of {first.name} "
            f"({ceiling:.1f}), which every frame passes: a simulator or model bug"
        )
    lat = latency(r, desc.clock_mhz)["latency_us"]
    out: dict[str, Any] = {
        "fps": fps,
        "span_fps": span_fps,
        "latency_p50_us": lat["p50"],
        "latency_p99_us": lat["p99"],
        "no_exit_fps": no_exit_fps(desc),
        "frames": len(exit_index),
        "shedding": bool(shedding),
        "period_cycles": period_cycles,
    }
    if shedding:
        forced = np.asarray(r.forced, dtype=bool)
        out["forced"] = int(forced.sum())
        out["exit_index"] = np.asarray(r.exit_index).astype(int).tolist()
        if worst:
            out["no_exit_fps_shedding"] = noexit_fps(model, frames=WORST_FRAMES)
    return out


def steady_fps(r: Any, clock_mhz: float) -> float:
    """Steady-state frames/s of a run: frames over the cycles between the `STEADY_WINDOW`
    quantiles of their finish cycles, and the same over their start cycles, whichever is lower
    (the span from first read to last result counts the pipeline's fill and, saturated, the
    drain of every buffer's backlog: fmnist3's chosen design gives 21,764 frames/s over the
    span of 2,000 frames and 22,626 in steady state, against the baseline's f_clk / II, which
    has neither). Runs shorter than `STEADY_MIN_FRAMES` give the span's figure."""
    n = r.num_frames
    if n < STEADY_MIN_FRAMES:
        return throughput_fps(r, clock_mhz)
    a, b = int(STEADY_WINDOW[0] * n), int(STEADY_WINDOW[1] * n) - 1
    rates = []
    for cycles in (np.sort(np.asarray(r.finish)), np.sort(np.asarray(r.start))):
        gap = int(cycles[b]) - int(cycles[a])
        if gap <= 0:
            return throughput_fps(r, clock_mhz)
        rates.append((b - a) * clock_mhz * 1e6 / gap)
    return min(rates)


def service_ladder(desc: HwDesc, exit_index: np.ndarray, timing: Any = None) -> dict[str, Any]:
    """A shedding design at each `SERVICE_LADDER` arrival rate down to the first that forces no
    frame out: `ladder` holds evaluate_design's figures per rate (fastest first, each with its
    `service_fraction`), `saturated_fps` the design's saturated throughput without shedding
    that the rates are fractions of."""
    plain = evaluate_design(desc, exit_index, False, timing)
    cycles = desc.clock_mhz * 1e6 / plain["fps"]
    ladder = []
    for frac in SERVICE_LADDER:
        period = max(1, math.ceil(cycles / frac))
        r = evaluate_design(desc, exit_index, True, timing, period_cycles=period, worst=False)
        r["service_fraction"] = frac
        ladder.append(r)
        if r["forced"] == 0:  # nothing forced: slower rates only lose throughput
            break
    model = replace(model_from_hwdesc(desc, timing=timing), shedding=True)
    worst = noexit_fps(model, frames=WORST_FRAMES)
    for r in ladder:
        r["no_exit_fps_shedding"] = worst
    return {"ladder": ladder, "saturated_fps": plain["fps"]}
