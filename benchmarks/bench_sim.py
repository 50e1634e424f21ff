"""Simulator benchmark: the full test set through the 3-exit design, checks and headline figures.

Input: the real run runs/bench-fmnist3 (build/hwdesc.json, export/reference.npz, calibrate/
policy.json from `make bench`'s earlier benchmarks) if it exists, else the hand-written
tests/data/fmnist3_hwdesc.json with a synthetic reference of 10,000 frames (margin policy, exit
rates 60/15/25 %, runs of hard frames); the command string in docs/benchmarks/sim.json says which.
The stepper runs on the first STEPPER_FRAMES frames only: its time per frame there is compared
with the fast engine's per frame on the whole set (a per-frame extrapolation).

Run: .venv/bin/python benchmarks/bench_sim.py [--run DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, add_json_option, bench_run_dir, write_benchmark

from exitflow import RunLayout
from exitflow.core.outputs import load_outputs
from exitflow.core.policies import load_policy
from exitflow.sim.config import SimConfig
from exitflow.sim.decisions import decide_frames, reconcile, spec_from_hwdesc
from exitflow.sim.design import model_from_hwdesc
from exitflow.sim.hwdesc import load_hwdesc
from exitflow.sim.pipeline import log_headline, run_simulation
from exitflow.sim.run import simulate
from exitflow.sim.synthetic import synthetic_reference

log = logging.getLogger("bench_sim")
RUN = bench_run_dir("fmnist3")
HANDWRITTEN = REPO / "tests" / "data" / "fmnist3_hwdesc.json"
STEPPER_FRAMES = 40
MACS = (226112, 3839104, 5645440)  # cumulative per exit, matching the hand-written partitions


def _inputs(run: Path = RUN):
    """(desc, reference outputs, policy, description of the input)."""
    lay = RunLayout(run)
    if lay.hwdesc.is_file() and lay.reference.is_file():
        desc = load_hwdesc(lay.hwdesc)
        ref = load_outputs(lay.reference)
        pol = lay.policy
        # the simulate step's own rule: the built policy, which must equal the calibrated one
        spec = reconcile(
            spec_from_hwdesc(desc), load_policy(pol) if pol.is_file() else None, desc.source
        )
        where = run.relative_to(REPO) if run.is_relative_to(REPO) else run
        return desc, ref, spec, f"real run {where}"
    desc = load_hwdesc(HANDWRITTEN)
    ref, spec = synthetic_reference(
        10_000, (12, 9), (0.6, 0.15, 0.25), exit_macs=MACS, burst=0.3, seed=1
    )
    what = (
        f"hand-written {HANDWRITTEN.relative_to(REPO)} + synthetic reference (10000 frames, "
        "margin policy, exit rates 0.60/0.15/0.25, burst 0.3); no runs/bench-fmnist3"
    )
    return desc, ref, spec, what


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run",
        type=Path,
        default=RUN,
        help="simulate another real run (e.g. runs/fmnist_demo after `make demo`)",
    )
    add_json_option(parser, "sim")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    desc, ref, spec, what = _inputs(args.run.resolve())
    log.info("input: %s", what)
    model = model_from_hwdesc(desc)
    n = ref.num_samples
    t0 = time.perf_counter()
    exit_index, _ = decide_frames(ref.logits, spec)
    simulated = simulate(model, exit_index).num_frames
    fast_s = time.perf_counter() - t0
    m = min(STEPPER_FRAMES, n)
    t0 = time.perf_counter()
    step = simulate(model, exit_index[:m], engine="stepper")
    step_s = time.perf_counter() - t0
    agree = simulate(model, exit_index[:m]).timing_equal(step) == []
    with tempfile.TemporaryDirectory() as tmp:
        out = run_simulation(desc, ref, spec, SimConfig(size_buffers=False), Path(tmp)).report
    log_headline(out)
    figures = {
        "frames": simulated,
        "seconds": fast_s,
        "exit_mismatches": out["exit_mismatches"],
        "noexit_fps_over_finn_estimate": out["noexit_fps_over_finn_estimate"] or float("nan"),
        "speedup_over_stepper": (step_s / m) / (fast_s / n),
        "stepper_frames": m,
        "stepper_agrees": float(agree),
        "throughput_fps": out["throughput_fps"],
        "ee_gain_over_baseline": out["gain_equal_resources"] or float("nan"),
        "ee_gain_raw": out["gain_over_baseline"] or float("nan"),
        "fraction_of_bound": out["fraction_of_bound"] or float("nan"),
        "latency_p99_us": out["latency_p99_us"],
    }
    command = f"python benchmarks/bench_sim.py  # input: {what}; stepper on {m} frames, per frame"
    path = write_benchmark("sim", figures, command, path=args.json)
    log.info("wrote %s: %s", path, figures)
    return 0 if agree and out["exit_mismatches"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
