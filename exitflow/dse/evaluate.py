"""Figures of one candidate: the simulator's throughput and latency on the validation exits.

The throughput is sim/'s (fast engine, saturated input) on the real exit sequence of the
validation set under the candidate's thresholds; the test set is kept for the final figures.
Worst-case throughput (no frame exits) is the static dataflow's f_clk / largest initiation
interval of any partition or buffer; with load shedding (exitflow.sim.shedding) a design sheds
frames at an exit whose buffer is full, so its validation run may force frames out early (their
exits are returned, so the caller can score them) and its no-exit stream is simulated. A throughput above f_clk / (cycles per frame of stage 0,
which every frame passes) is a bug and raises.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from exitflow.core.errors import SimulationError
from exitflow.core.hwdesc import HwDesc

__all__ = ["BoundError", "evaluate_design", "no_exit_fps"]


class BoundError(SimulationError):
    """A figure past a physical bound: a bug in the search or its inputs, never a result."""


def no_exit_fps(desc: HwDesc) -> float:
    """Throughput when no frame exits: the slowest partition or conditional buffer decides."""
    cycles = [p.cycles_per_frame for p in desc.partitions]
    cycles += [int(c.cycles_per_frame or 0) for c in desc.cond_buffers]
    return desc.clock_mhz * 1e6 / max(cycles)


def evaluate_design(
    desc: HwDesc, exit_index: np.ndarray, shedding: bool = False, timing: Any = None
) -> dict[str, Any]:
    """fps, latency (p50/p99 in µs) and the no-exit fps of `desc` on `exit_index`; with
    `shedding`, also the frames forced out (and every frame's exit) and the no-exit stream's
    throughput with shedding. `timing`: measured partition timing (exitflow.sim.rtl_timing)."""
    from dataclasses import replace

    from exitflow.sim.analysis import latency, throughput_fps
    from exitflow.sim.design import model_from_hwdesc
    from exitflow.sim.run import simulate
    from exitflow.sim.shedding import noexit_fps

    model = replace(model_from_hwdesc(desc, timing=timing), shedding=shedding)
    r = simulate(model, exit_index, keep_events=False)
    fps = throughput_fps(r, desc.clock_mhz)
    first = desc.stage_order()[0]
    ceiling = desc.clock_mhz * 1e6 / first.cycles_per_frame
    if fps > ceiling * (1 + 1e-9):
        raise BoundError(
            f"simulated {fps:.1f} frames/s exceeds f_clk / II of {first.name} "
            f"({ceiling:.1f}), which every frame passes: a simulator or model bug"
        )
    lat = latency(r, desc.clock_mhz)["latency_us"]
    out: dict[str, Any] = {
        "fps": fps,
        "latency_p50_us": lat["p50"],
        "latency_p99_us": lat["p99"],
        "no_exit_fps": no_exit_fps(desc),
        "frames": len(exit_index),
        "shedding": bool(shedding),
    }
    if shedding:
        forced = np.asarray(r.forced, dtype=bool)
        out["forced"] = int(forced.sum())
        out["exit_index"] = np.asarray(r.exit_index).astype(int).tolist()
        out["no_exit_fps_shedding"] = noexit_fps(model, frames=400)
    return out
