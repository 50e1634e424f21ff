"""Benchmark of `exitflow build`: the Fashion-MNIST 3-exit model on Pynq-Z2.

Uses runs/bench-fmnist3 (written by bench_quant.py with configs/fmnist3.yaml); if its export is
missing, trains one with `exitflow run --to export` first. Times the Vivado-free steps of a
forced rebuild and writes docs/benchmarks/hw.json: build_minutes, parity_samples,
parity_mismatches (exit or class or logits, composed design vs quant/), decision_lut_fraction
(decision units' LUTs over the backbone's), plus the estimated fps of the gated design without
exits and of the baseline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, write_benchmark

CONFIG = REPO / "configs" / "fmnist3.yaml"
RUN = REPO / "runs" / "bench-fmnist3"
EXITFLOW = Path(sys.executable).parent / "exitflow"


def _exitflow(*args: str) -> None:
    cmd = [str(EXITFLOW), *args, "-c", str(CONFIG), "-o", str(RUN)]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def main() -> int:
    if not CONFIG.is_file():
        print(f"skip: {CONFIG} does not exist (written with the quant benchmark)")
        return 1
    if not (RUN / "export" / "manifest.json").is_file():
        _exitflow("run", "--to", "export")
    start = time.monotonic()
    _exitflow("build", "--force")
    minutes = (time.monotonic() - start) / 60
    report = json.loads((RUN / "build" / "report.json").read_text())
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
    path = write_benchmark(
        "hw", figures, command=f"python benchmarks/bench_hw.py  (exitflow build -c {CONFIG.name})"
    )
    print(json.dumps(figures, indent=2))
    print(f"wrote {path}")
    if report.get("over_budget"):
        print(f"the gated design exceeds {report['board']}: {report['over_budget']}")
        return 1
    return 0 if mismatches == 0 and minutes < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
