"""The demo's time: `make demo`'s command (exitflow run on examples/fmnist_demo.yaml, the DSE,
the build of its chosen design, simulation and RTL co-simulation) into a fresh run directory.

Writes docs/benchmarks/demo.json (figure `demo_minutes`: the whole command's wall time; its CPU
minutes; the minutes of every step from the run's step records, and of the explore sub-run's
steps) and <run>/demo.json ({"minutes", "cpu_minutes", "steps"}), where bench_codesign.py looks
for runs/fmnist_demo. Wall minutes depend on what else the machine runs: the load averages
before and after are recorded beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, add_json_option, write_benchmark

from exitflow.core.files import write_json

CONFIG = REPO / "examples" / "fmnist_demo.yaml"
EXITFLOW = REPO / ".venv" / "bin" / "exitflow"


def step_minutes(run_dir: Path) -> dict[str, float]:
    """Minutes of every step that ran, from the step records (.steps/<step>.json)."""
    out = {}
    for path in sorted((run_dir / ".steps").glob("*.json")):
        rec = json.loads(path.read_text())
        if rec.get("finished") and rec.get("started"):
            out[rec["step"]] = (rec["finished"] - rec["started"]) / 60
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", type=Path, default=REPO / "runs" / "fmnist_demo", help="fresh run directory"
    )
    parser.add_argument("--config", type=Path, default=CONFIG, help="the demo's config")
    add_json_option(parser, "demo")
    args = parser.parse_args()
    if args.run.exists():  # the figure is a cold run's: nothing of an earlier one is reused
        shutil.rmtree(args.run)
    exe = str(EXITFLOW) if EXITFLOW.is_file() else shutil.which("exitflow") or "exitflow"
    cmd = [exe, "run", "--config", str(args.config), "-o", str(args.run)]
    load_before = os.getloadavg()
    t0 = time.monotonic()
    rc = subprocess.call(cmd, cwd=REPO)
    wall = (time.monotonic() - t0) / 60
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage.ru_utime + usage.ru_stime) / 60
    load_after = os.getloadavg()
    if rc != 0:
        print(f"the demo failed (exit {rc}) after {wall:.1f} min: see {args.run / 'logs'}")
        return rc
    steps = step_minutes(args.run)
    sub = step_minutes(args.run / "cache" / "explore")
    figures = {"demo_minutes": wall, "cpu_minutes": cpu}
    figures |= {f"{name}_minutes": m for name, m in steps.items()}
    figures |= {f"explore_{name}_minutes": m for name, m in sub.items()}
    figures |= {"load_before": load_before[0], "load_after_15min": load_after[2]}
    write_json(args.run / "demo.json", {"minutes": wall, "cpu_minutes": cpu, "steps": steps})
    command = " ".join(["make demo:", *cmd[1:]])
    path = write_benchmark("demo", figures, command=command, path=args.json)
    print(f"demo: {wall:.1f} min wall, {cpu:.1f} min CPU; wrote {path}")
    for name, m in steps.items():
        print(f"  {name:10s} {m:6.2f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
