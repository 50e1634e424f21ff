"""RTL co-simulation benchmark: the whole generated top of the 3-exit design in Verilator.

Input: the real run runs/bench-fmnist3 (built with hw.mvau_style: dsp by `make bench`'s earlier
benchmarks, and simulated: the top's FIFO and buffer depths come from sim/report.json).

1. The cosim step (exitflow.step_rtl) on --frames test frames (10,000: the whole test set),
   arriving as the run's sim.arrival says, no output back-pressure, in --workers chunks at once
   (rtl.workers): exit, class and logit mismatches against export/reference.npz; rtl_fps /
   sim_fps and result order on the first chunk against the simulator with the partition timing
   measured in RTL (the headline) and with FINN's estimates (*_estimates); Verilator's wall
   time and simulated cycles per second (all chunks' cycles over the wall time).
2. A no-exit stream: every non-final threshold register written (AXI-Lite) to a value no
   decision reaches, --noexit-frames frames; every frame must leave at the last exit with the
   reference's final-exit logits, and its throughput (first chunk) is compared with the
   simulator's no-exit run on the same depths, with measured timing and with estimates.
3. Glue cost from yosys synth_xilinx (exitflow.hw.tools.synth_rtl): the decision unit for 10
   classes, 8-bit logits, margin policy; the design's conditional buffers (summed) and merge.
   Whole-design synthesis keys (gated_*, baseline_*, yosys_over_finn_lut) are taken from the
   run's build/synth.json when it holds a synthesised whole top (exitflow.hw.tools.synth_design
   .record_top), else left out (the log says so).

Run: .venv/bin/python benchmarks/bench_rtl.py [--run DIR] [--frames N] [--noexit-frames M]
[--workers K] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
from common import (
    DATA_ROOT,
    REPO,
    add_json_option,
    bench_run_dir,
    flow,
    run_config,
    write_benchmark,
)

from exitflow import RunLayout
from exitflow.core.errors import StaleError
from exitflow.hw.rtl_config import CosimMode

log = logging.getLogger("bench_rtl")
RUN = bench_run_dir("fmnist3")


def _cosim(run_dir: Path, frames: int, workers: int) -> dict[str, float]:
    """The cosim step on `frames` frames; its report's figures."""
    cfg = run_config(run_dir, REPO / "configs" / "fmnist3.yaml")
    cfg.rtl.frames, cfg.rtl.cosim, cfg.rtl.backpressure, cfg.rtl.jobs, cfg.rtl.workers = (
        frames,
        CosimMode.REQUIRED,
        0.0,
        2,
        workers,
    )
    cpu0, load0 = _children_cpu(), os.getloadavg()[0]
    try:
        # forced: an up-to-date cosim step would be skipped and its last report's figures
        # (seconds included) passed off as this run's
        flow(cfg, run_dir, steps=["simulate", "cosim"], force=True)
    except StaleError as exc:
        # a config key added since the run was built (the build itself is unchanged): the
        # step's own function on the run as built, with its sim/report.json sizing
        log.warning("%s: running the cosim step's function directly on the run as built", exc)
        from exitflow.run import Run
        from exitflow.step_rtl import cosim_step

        cosim_step(Run(cfg, run_dir, DATA_ROOT))
    cpu = _children_cpu() - cpu0
    load = (load0 + os.getloadavg()[0]) / 2
    rep = json.loads(RunLayout(run_dir).rtl_report.read_text())
    log.info(
        "cosim: %d frames, %d/%d/%d mismatches, rtl/sim fps %.4f (estimates: %.4f), %.1f s, "
        "%.0f cycles/s", rep["frames"], rep["exit_mismatches"], rep["class_mismatches"],
        rep["logit_mismatches"], rep["fps_ratio"], rep["fps_ratio_estimates"],
        rep["rtl_seconds"], rep["rtl_cycles_per_second"],
    )  # fmt: skip
    return {
        "rtl_frames": rep["frames"],
        "rtl_exit_mismatches": rep["exit_mismatches"],
        "rtl_class_mismatches": rep["class_mismatches"],
        "rtl_logit_mismatches": rep["logit_mismatches"],
        "rtl_fps_over_sim_fps": rep["fps_ratio"],
        "rtl_order_equal": float(rep["order_equal"]),
        "rtl_order_frames": rep["simulator"]["frames_compared"],
        # results in the same position as the simulator's (of rtl_order_frames)
        "rtl_order_positions_equal": rep["simulator"]["order_positions_equal"],
        # the same over every chunk of the run (each from reset, compared within the chunk)
        "rtl_order_frames_all_chunks": rep["simulator"].get("order_frames_all_chunks"),
        "rtl_order_positions_equal_all_chunks": rep["simulator"].get(
            "order_positions_equal_all_chunks"
        ),
        "rtl_fps_over_sim_fps_estimates": rep["fps_ratio_estimates"],
        "rtl_order_equal_estimates": float(rep["order_equal_estimates"]),
        "rtl_workers": workers,
        "rtl_seconds": rep["rtl_seconds"],
        "rtl_cycles_per_second": rep["rtl_cycles_per_second"],
        # Verilator's CPU time (the harness processes), so a loaded machine shows as such
        "rtl_cpu_seconds": round(cpu, 1),
        "rtl_cycles_per_cpu_second": rep["cycles"] / cpu if cpu > 0 else 0.0,
        "rtl_verilator_build_seconds": rep.get("verilator_seconds", 0.0),
        "load_average": round(load, 2),
    }


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished child processes."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _noexit(run_dir: Path, frames: int, workers: int) -> dict[str, float]:
    """No frame exits early (thresholds written over AXI-Lite): RTL vs simulator throughput.

    Under the run's lock, as the flow's own steps: the top it generates and simulates lives in
    build/rtl/top-<key>/, which another process's cosim step would otherwise prune mid-run."""
    from exitflow.run import Run

    cfg = run_config(run_dir, REPO / "configs" / "fmnist3.yaml")
    with Run(cfg, run_dir, DATA_ROOT).locked():
        return _noexit_locked(run_dir, frames, workers)


def _noexit_locked(run_dir: Path, frames: int, workers: int) -> dict[str, float]:
    from exitflow.core.rules import predicted_class
    from exitflow.hw.ops import axilite
    from exitflow.hw.top import cosim
    from exitflow.sim.decisions import never_exit
    from exitflow.sim.hwdesc import load_hwdesc
    from exitflow.sim.run import simulate
    from exitflow.step_rtl import NEVER_FIRES, prepare, rtl_fps, sim_model_for
    from exitflow.step_rtl_sim import measured_timing

    lay = RunLayout(run_dir)
    cfg = run_config(run_dir, REPO / "configs" / "fmnist3.yaml")
    design, model = prepare(run_dir, frames=frames, sim_report=lay.sim_report)
    last = len(design.plan.exits) - 1
    writes = [(axilite.threshold_addr(k), NEVER_FIRES) for k in range(last)]
    ref = dict(np.load(lay.reference))
    t0 = time.perf_counter()
    res = cosim(
        design, ref, frames=frames, backpressure=0.0, reg_writes=writes, model=model,
        workers=workers,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    want = np.asarray(ref["logits"][:frames, last], np.int64)
    got = np.array([r.logits for r in res.records], np.int64)
    bad_logits = int((got != want).any(axis=1).sum())
    bad = int((res.exits != last).sum()) + int((res.classes != predicted_class(want)).sum())
    if bad or bad_logits:
        raise SystemExit(
            f"no-exit stream: {bad} frames left early or with another class, {bad_logits} with "
            "other logits than the reference's final exit"
        )
    from exitflow.sim.analysis import throughput_fps

    desc = load_hwdesc(lay.hwdesc)
    n0 = res.extra["chunks"][0][1]  # throughput of the first chunk, which started from reset
    r_fps = rtl_fps(res, desc.clock_mhz)
    ratios = {}
    # the partitions' RTL timing the cosim step measured (cached by the partitions' sources)
    measured, _ = measured_timing(run_dir, design)
    for label, timing in (("", measured), ("_estimates", None)):
        sim_model, _ = sim_model_for(design, desc, cfg.sim, timing)
        sim = simulate(sim_model, never_exit(n0, last + 1))
        ratios[label] = r_fps / throughput_fps(sim, desc.clock_mhz)
    log.info(
        "no-exit: %d frames at the last exit, RTL %.1f fps, ratio to the simulator %.4f "
        "(estimates: %.4f), %.1f s", frames, r_fps, ratios[""], ratios["_estimates"], wall,
    )  # fmt: skip
    return {
        "rtl_noexit_frames": frames,
        "rtl_noexit_fps_over_sim_fps": ratios[""],
        "rtl_noexit_fps_over_sim_fps_estimates": ratios["_estimates"],
        "rtl_noexit_seconds": round(wall, 2),
    }


def _glue(run_dir: Path) -> dict[str, float]:
    """LUTs of exitflow's glue blocks from yosys synth_xilinx."""
    from exitflow.hw.ops import exit_decision, sources
    from exitflow.hw.tools.synth_design import glue_blocks
    from exitflow.hw.tools.synth_rtl import synthesise_top
    from exitflow.hw.tools.yosys import find_yosys

    lay = RunLayout(run_dir)
    work = lay.top_dir / "yosys"
    ys = find_yosys()
    params = dict(exit_decision.params("margin", 10, 8, 5))
    dec = synthesise_top(sources("exit_decision"), "exit_decision", work, ys, params=params)
    out = {"decision_unit_luts": float(dec.lut)}
    blocks = glue_blocks(json.loads(lay.hwdesc.read_text()))
    cbuf = merge = 0
    for name, (top, srcs, p) in blocks.items():
        res = synthesise_top(srcs, top, work, ys, params=dict(p))
        log.info("yosys %s (%s): %d LUT, %d FF, %d BRAM18", name, top, res.lut, res.ff, res.bram18)
        if top == "cond_buffer":
            cbuf += res.lut
        elif top == "merge":
            merge += res.lut
    out.update(cond_buffer_luts=float(cbuf), merge_luts=float(merge))
    log.info("glue LUTs: %s", out)
    return out


def _synthesis(run_dir: Path) -> dict[str, float]:
    """Whole-design keys from build/synth.json when a whole top was synthesised there."""
    path = RunLayout(run_dir).build_dir / "synth.json"
    report = json.loads(path.read_text()) if path.is_file() else {}
    if not report.get("tops"):
        log.warning(
            "no synthesised whole top in %s: gated_*, baseline_* and yosys_over_finn_lut are "
            "left out (exitflow.hw.tools.synth_design.record_top writes them)", path
        )  # fmt: skip
        return {}
    from exitflow.hw.tools.synth_design import benchmark_keys

    keys = benchmark_keys(report)
    wanted = [f"{s}_{r}" for s in ("gated", "baseline") for r in ("lut", "ff", "bram18", "dsp")]
    return {k: keys[k] for k in [*wanted, "yosys_over_finn_lut"] if keys.get(k) is not None}  # type: ignore[misc]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=RUN, help="the run to co-simulate")
    parser.add_argument("--frames", type=int, default=10_000, help="frames of the main stream")
    parser.add_argument(
        "--noexit-frames", type=int, default=1000, help="frames of the no-exit stream"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="Verilator simulations at once (frame chunks)"
    )
    add_json_option(parser, "rtl")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    run_dir = args.run.resolve()
    if not RunLayout(run_dir).hwdesc.is_file():
        log.error("%s has no build/hwdesc.json: run bench_hw.py first", run_dir)
        return 1
    figures: dict[str, float] = {}
    figures.update(_cosim(run_dir, args.frames, args.workers))
    figures.update(_noexit(run_dir, args.noexit_frames, args.workers))
    figures.update(_glue(run_dir))
    figures.update(_synthesis(run_dir))
    path = write_benchmark("rtl", figures, path=args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
