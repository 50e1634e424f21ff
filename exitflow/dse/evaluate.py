"""Figures of one candidate: the simulator's throughput and latency on the validation exits.

The throughput is sim/'s (fast engine, saturated input) on the real exit sequence of the
validation set under the candidate's thresholds; the test set is kept for the final figures.
Worst-case throughput (no frame exits) is the static dataflow's f_clk / largest initiation
interval of any partition or buffer. A throughput above f_clk / (cycles per frame of stage 0,
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


def evaluate_design(desc: HwDesc, exit_index: np.ndarray) -> dict[str, Any]:
    """fps, latency (p50/p99 in µs) and the no-exit fps of `desc` on `exit_index`."""
    from exitflow.sim.analysis import latency, throughput_fps
    from exitflow.sim.design import model_from_hwdesc
    from exitflow.sim.run import simulate

    model = model_from_hwdesc(desc)
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
    return {
        "fps": fps,
        "latency_p50_us": lat["p50"],
        "latency_p99_us": lat["p99"],
        "no_exit_fps": no_exit_fps(desc),
        "frames": len(exit_index),
    }
