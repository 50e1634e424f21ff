"""Benchmark of the build step: the Fashion-MNIST 3-exit model on Pynq-Z2.

Uses runs/bench-fmnist3 (made by bench_quant.py from configs/fmnist3.yaml) with the config it was
made with; if its export is missing, runs the flow up to export first. Times a forced rebuild
(the Vivado-free steps where Vivado is absent) through exitflow's Python API and writes
docs/benchmarks/hw.json: build_minutes, parity_samples, parity_mismatches (exit or class or
logits, composed design vs quant/), decision_lut_fraction (decision units' LUTs over the
backbone's), plus the estimated fps of the gated design without exits and of the baseline.

Run: .venv/bin/python benchmarks/bench_hw.py [--run DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from common import REPO, add_json_option, bench_run_dir, flow, run_config, write_benchmark

import exitflow

CONFIG = REPO / "configs" / "fmnist3.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=bench_run_dir("fmnist3"), help="run directory")
    add_json_option(parser, "hw")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    lay = exitflow.RunLayout(args.run)
    over_budget = None
    try:
        cfg = run_config(args.run, CONFIG)
        if not lay.manifest.is_file():
            flow(cfg, args.run, stop="export")
        start = time.monotonic()
        try:
            flow(cfg, args.run, steps=["build"], force=True)
        except exitflow.BudgetError as err:  # the reports are kept: the figures still count
            over_budget = str(err)
        minutes = (time.monotonic() - start) / 60
    except exitflow.ExitflowError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return err.exit_code
    report = json.loads(lay.build_report.read_text())
    par = report["parity"]
    mismatches = max(par["exit_mismatches"], par["class_mismatches"], par["logit_mismatches"])
    figures = {
        "build_minutes": round(minutes, 2),
        "parity_samples": par["samples"],
        "parity_mismatches": mismatches,
        "decision_lut_fraction": round(report["gated"]["decision_lut_fraction"], 5),
        "gated_no_exit_fps": round(report["gated"]["no_exit_fps"], 1),
        "baseline_fps": round(report["baseline"]["fps"], 1),
        "gated_lut": report["gated"]["total"]["LUT"],
        "baseline_lut": report["baseline"]["total"]["LUT"],
        # the design must fit its board: above 1.0 it could never be placed
        "gated_lut_utilisation": round(report["gated"]["utilisation"]["LUT"], 4),
        "gated_bram_utilisation": round(report["gated"]["utilisation"]["BRAM_18K"], 4),
    }
    command = f"python benchmarks/bench_hw.py  (exitflow build of {lay.run_dir.name})"
    path = write_benchmark("hw", figures, command=command, path=args.json)
    print(json.dumps(figures, indent=2))
    print(f"wrote {path}")
    if over_budget:
        print(over_budget)
        return 1
    return 0 if mismatches == 0 and minutes < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
