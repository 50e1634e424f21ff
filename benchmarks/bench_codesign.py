"""Co-design benchmark: `exitflow dse` on the fmnist3 run (Pynq-Z2), cold or resumed.

Input: runs/bench-fmnist3 after `make bench`'s earlier benchmarks (train, calibrate, export,
build). Runs the dse step (forced) with the run's own config; --cold first removes the search's
cache (<run>/cache/dse) so the time is that of a whole search. Figures: search minutes,
candidates, simulated designs, partition foldings, cache hits, the chosen design's validation
throughput and resource fraction, and per budget of the iso-resource sweep the gain at equal
resources, its fraction of the bound and the least resource fraction matching the baseline.

Run: .venv/bin/python benchmarks/bench_codesign.py [--run DIR] [--cold] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

from common import REPO, add_json_option, bench_run_dir, flow, run_config, write_benchmark

from exitflow import RunLayout

log = logging.getLogger("bench_codesign")
RUN = bench_run_dir("fmnist3")
CONFIG = REPO / "configs" / "fmnist3.yaml"


def figures(rep: dict) -> dict[str, float]:
    """The benchmark's numbers from dse/report.json (None values left out)."""
    st, chosen = rep["stats"], rep.get("chosen") or {}
    out = {
        "search_minutes": st["minutes"],
        "candidates": st["candidates"],
        "simulated_designs": st["simulated_designs"],
        "partition_foldings": st["partition_foldings"],
        "cache_hits": st["cache_hits"],
        "sim_frames": st["sim_frames"],
        "chosen_fps": chosen.get("fps"),
        "chosen_resource_fraction": chosen.get("resource_fraction"),
        "chosen_no_exit_fps": chosen.get("no_exit_fps"),
    }
    for row in rep["iso_resource"]:
        pct = round(100 * row["budget"])
        out[f"gain_equal_resources_{pct}pct"] = row.get("gain")
        out[f"gain_at_budget_{pct}pct"] = row.get("gain_at_budget")
        out[f"fraction_of_bound_{pct}pct"] = row.get("fraction_of_bound")
        out[f"baseline_fps_{pct}pct"] = (row.get("baseline") or {}).get("fps")
        out[f"least_fraction_matching_baseline_{pct}pct"] = row.get(
            "least_fraction_matching_baseline"
        )
    return {k: float(v) for k, v in out.items() if v is not None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=RUN, help="a built run (default: fmnist3's)")
    parser.add_argument("--cold", action="store_true", help="clear the search's cache first")
    add_json_option(parser, "dse")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    for name in ("finn", "finn_logger", "qonnx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    run = args.run.resolve()
    lay = RunLayout(run)
    if not lay.build_report.is_file():
        log.error("%s has no build: run benchmarks/bench_hw.py first", run)
        return 1
    if args.cold:
        shutil.rmtree(lay.dse_cache, ignore_errors=True)
    cfg = run_config(run, CONFIG)
    flow(cfg, run, steps=["dse"], force=True)
    rep = json.loads(lay.dse_report.read_text())
    figs = figures(rep)
    path = write_benchmark("dse", figs, path=args.json)
    log.info("resources from: %s", rep["resources_from"])
    log.info("wrote %s: %s", path, figs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
