"""The adversarial stream in RTL: the built top with load shedding against sim/, frame for frame.

Every non-final threshold is written unreachable over AXI-Lite (no frame exits by policy, the
DeepSloth case), the top is regenerated with shedding (exitflow.hw.top.generate_top) and fed
back to back; the simulator runs the same design (build/hwdesc.json, with the RTL's measured
partition timing when build/rtl/timing.json exists, else FINN's estimates) with shedding on the
same stream. A frame mismatches when its exit or its forced bit differs. This is the check of
tests/test_shedding_rtl.py::test_top_sheds_frame_for_frame_as_the_simulator on a real run.
"""

from __future__ import annotations

import logging
import resource
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["forced_exit_mismatches", "never"]

log = logging.getLogger(__name__)


def never(logit_bits: int) -> int:
    """The largest threshold exit_unit.sv holds (W + 2 bits, two's complement), 2^(W+1) - 1:
    above every margin of W-bit logits (at most 2^W - 1), so the exit never fires by policy."""
    return (1 << (logit_bits + 1)) - 1


def _cpu() -> float:
    """CPU seconds of this process and its finished children (Verilator's build and runs)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def forced_exit_mismatches(
    run_dir: Path, out_dir: Path, frames: int = 300, jobs: int = 1
) -> dict[str, Any]:
    """Co-simulate `frames` images of a built run's shedding top with every non-final exit
    disabled, and compare each frame's (exit, forced) with the simulator's.

    `out_dir` receives the generated top and its Verilator cache (content-keyed, so a rerun
    with the same sources reuses the model). Returns mismatches, frames, forced counts of both,
    the first differing frame (or None), the timing the simulator used and wall/CPU seconds.
    """
    from exitflow.hw.ops import axilite
    from exitflow.hw.top import cosim, generate_top
    from exitflow.hw.top.cosim import build_top_model
    from exitflow.sim.config import SimConfig
    from exitflow.sim.hwdesc import load_hwdesc
    from exitflow.sim.rtl_timing import load_rtl_timing
    from exitflow.sim.run import simulate
    from exitflow.step_rtl_sim import sim_model_for

    run = Path(run_dir)
    t0 = time.monotonic()
    c0 = _cpu()
    desc = load_hwdesc(run / "build" / "hwdesc.json")
    n_exits = len(desc.exits)
    timing_file = run / "build" / "rtl" / "timing.json"
    timing = load_rtl_timing(run) if timing_file.is_file() else None
    top = generate_top(run, shedding=True, out_dir=Path(out_dir) / "top")
    model = build_top_model(top, jobs=jobs, workdir=Path(out_dir) / "verilator")
    ex = top.plan.exits
    writes = [(axilite.threshold_addr(e), never(ex[e].logit_bits)) for e in range(n_exits - 1)]
    res = cosim(top, run / "export" / "reference.npz", frames=frames, backpressure=0.0,
                model=model, reg_writes=writes)  # fmt: skip
    # the depths the top was built with (its FIFOs, buffers and verdict FIFOs), as the cosim
    # step's comparison uses them
    model_top, _ = sim_model_for(top, desc, SimConfig(), timing)
    sm = replace(model_top, shedding=True)
    sim = simulate(sm, np.full(len(res.records), n_exits - 1, np.int64), keep_events=False)
    rtl_exit = np.array([r.exit for r in res.records], np.int64)
    rtl_forced = np.array([bool(r.forced) for r in res.records])
    bad = (rtl_exit != sim.exit_index) | (rtl_forced != sim.forced.astype(bool))
    first = int(np.flatnonzero(bad)[0]) if bad.any() else None
    out = {
        "frames": len(res.records),
        "mismatches": int(bad.sum()),
        "first_mismatch": first,
        "rtl_forced": int(rtl_forced.sum()),
        "sim_forced": int(np.count_nonzero(sim.forced)),
        "rtl_exit_histogram": np.bincount(rtl_exit, minlength=n_exits).tolist(),
        "sim_exit_histogram": np.bincount(sim.exit_index, minlength=n_exits).tolist(),
        "sim_timing": "measured RTL partition timing (build/rtl/timing.json)"
        if timing is not None
        else "FINN's estimates (no build/rtl/timing.json)",
        "wall_s": round(time.monotonic() - t0, 1),
        "cpu_s": round(_cpu() - c0, 1),
    }
    if first is not None:
        log.warning(
            "shedding top vs simulator: %d of %d frames differ, first frame %d (RTL exit %d "
            "forced %s, simulator exit %d forced %s)", out["mismatches"], out["frames"], first,
            rtl_exit[first], rtl_forced[first], sim.exit_index[first], bool(sim.forced[first]),
        )  # fmt: skip
    return out
