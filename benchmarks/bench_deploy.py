"""Deploy benchmark: the driver on the real 3-exit design, through the RTL and the simulator.

Input: the run runs/bench-fmnist3 (made by `make bench`'s earlier benchmarks; --run DIR for
another). It needs build/hwdesc.json, export/reference.npz and FINN's codegen checkpoints of an
all-RTL build (hw.mvau_style: dsp) so that exitflow.hw.top.generate_top can write the top.
Figures (docs/benchmarks/deploy.json):
- driver_rtl_frames / driver_rtl_mismatches: the driver's verilator backend (the generated top
  under 30% output back-pressure) on the first --rtl-frames test images, every frame's exit,
  class and logits against export/reference.npz (brevitas);
- driver_sim_frames / driver_sim_mismatches: the sim backend on every test image (--sim-frames);
- threshold_register_mismatches: frames whose exit or class differs from
  exitflow.core.policies.apply_policy after writing each non-final exit's threshold register to
  T-2 and T+2 (sim backend on every image, verilator on --rtl-threshold-frames);
- tcl_dry_run_boards: boards whose Vivado project (exitflow.hw.vivado) passes the Tcl dry run
  (details per board under "details"), with tcl_dry_run_boards_total boards tried.

Run: .venv/bin/python benchmarks/bench_deploy.py [--run DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import DATA_ROOT, REPO, add_json_option, bench_run_dir, machine

from exitflow.core.files import write_json
from exitflow.core.policies import PolicySpec, apply_policy, threshold_for
from exitflow.driver import ExitflowAccelerator

log = logging.getLogger("bench_deploy")
RUN = bench_run_dir("fmnist3")


def _mismatches(res: Any, ref: dict, n: int) -> int:
    ex, cls = ref["exit_index"][:n], ref["pred"][:n]
    bad = (res.exits != ex) | (res.classes != cls)
    if res.logits is not None:
        bad |= (res.logits != ref["logits"][np.arange(n), ex]).any(axis=1)
    return int(bad.sum())


def _threshold_mismatches(acc: ExitflowAccelerator, ref: dict, n: int) -> tuple[int, int]:
    """(mismatching frames, frames run) over T-2 and T+2 on every non-final exit."""
    kind = acc.manifest["policy"]["kind"]
    params = dict(acc.manifest["policy"].get("params") or {})
    base = acc.thresholds
    bad = total = 0
    for k in range(len(base)):
        for delta in (-2, 2):
            ts = list(base)
            ts[k] += delta
            acc.set_thresholds(ts)
            res = acc.infer(ref["input"][:n])
            probe = PolicySpec(kind, (0.0,) * len(ts), params)
            spec = PolicySpec(
                kind, tuple(threshold_for(kind, t, probe.exit_params(e)) for e, t in enumerate(ts)),
                params,
            )  # fmt: skip
            ex, cls = apply_policy(ref["logits"][:n], spec)
            bad += int(((res.exits != ex) | (res.classes != cls)).sum())
            total += n
            log.info("threshold %d := %d: histogram %s", k, ts[k], res.histogram)
    acc.set_thresholds(base)
    return bad, total


def _test_images(run: Path, n_ref: int) -> tuple[np.ndarray | None, str]:
    """The run's whole test set (reference.npz stores only its first images), or None."""
    import exitflow
    from exitflow.quant import load_splits

    try:
        cfg = exitflow.load_config(run / "config.yaml")
        test = load_splits(cfg.dataset, DATA_ROOT).test
    except Exception as exc:  # the figure then covers reference.npz's images only
        return None, f"test set not loaded ({type(exc).__name__}: {exc})"
    if len(test.images) != n_ref:
        return None, f"test set has {len(test.images)} images, reference.npz {n_ref} rows"
    return test.images, f"{len(test.images)} test images of {cfg.dataset.name}"


def _dry_runs(design: Any, details: dict) -> tuple[int, int]:
    from exitflow.hw.boards import BOARDS
    from exitflow.hw.vivado import dry_run, generate_project

    ok = 0
    for board in BOARDS:
        name = getattr(board, "value", str(board))
        try:
            with tempfile.TemporaryDirectory() as tmp:
                proj = generate_project(design, board, Path(tmp) / "proj")
                rep = dry_run(proj.dir)
            details[name] = "ok" if rep.ok else "; ".join(rep.problems[:3])
            ok += bool(rep.ok)
        except Exception as exc:  # a board that cannot be generated is a result, not a crash
            details[name] = f"{type(exc).__name__}: {exc}"
    return ok, len(BOARDS)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, default=RUN, help="the built run (default %(default)s)")
    p.add_argument("--rtl-frames", type=int, default=1000)
    p.add_argument("--rtl-threshold-frames", type=int, default=200)
    p.add_argument("--sim-frames", type=int, default=10_000)
    add_json_option(p, "deploy")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run = args.run.resolve()
    ref_path = run / "export" / "reference.npz"
    if not (run / "build" / "hwdesc.json").is_file() or not ref_path.is_file():
        print(f"bench_deploy: {run} is not a built run (build/hwdesc.json, export/reference.npz);"
              " run `make bench` (bench_quant, bench_hw) first", file=sys.stderr)  # fmt: skip
        return 2
    from exitflow.hw.top import generate_top

    ref = dict(np.load(ref_path))
    t0 = time.perf_counter()
    design = generate_top(run)
    details: dict[str, Any] = {
        "run": str(run.relative_to(REPO) if run.is_relative_to(REPO) else run)
    }
    f: dict[str, float] = {}

    full, details["sim_images"] = _test_images(run, len(ref["logits"]))
    sim = ExitflowAccelerator(run, "sim", test_images=full)
    images = full if full is not None else ref["input"]
    n_sim = min(args.sim_frames, len(images))
    res = sim.infer(images[:n_sim])
    f["driver_sim_frames"], f["driver_sim_mismatches"] = n_sim, _mismatches(res, ref, n_sim)
    details["sim_exit_histogram"] = res.histogram
    details["sim_throughput_fps"] = res.throughput_fps
    bad_s, tot_s = _threshold_mismatches(sim, {**ref, "input": images}, n_sim)

    rtl = ExitflowAccelerator(run, "verilator", design=design, backpressure=0.3, seed=1)
    n_rtl = min(args.rtl_frames, len(ref["input"]))
    res = rtl.infer(ref["input"][:n_rtl])
    f["driver_rtl_frames"], f["driver_rtl_mismatches"] = n_rtl, _mismatches(res, ref, n_rtl)
    details["rtl_exit_histogram"] = res.histogram
    details["rtl_counters"] = rtl.counters()
    details["rtl_throughput_fps_under_backpressure"] = res.throughput_fps
    details["rtl_wall_s"] = res.wall_s
    bad_r, tot_r = _threshold_mismatches(rtl, ref, min(args.rtl_threshold_frames, n_rtl))
    f["threshold_register_mismatches"] = bad_s + bad_r
    details["threshold_frames"] = {"sim": tot_s, "verilator": tot_r}

    dry: dict[str, str] = {}
    f["tcl_dry_run_boards"], f["tcl_dry_run_boards_total"] = _dry_runs(design, dry)
    details["tcl_dry_run"] = dry
    details["seconds"] = time.perf_counter() - t0
    payload = {
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "figures": {k: float(v) for k, v in f.items()},
        "details": details,
    }
    out = write_json(args.json or REPO / "docs" / "benchmarks" / "deploy.json", payload)
    log.info("wrote %s: %s", out, payload["figures"])
    bad = f["driver_rtl_mismatches"] + f["driver_sim_mismatches"] + bad_s + bad_r
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
