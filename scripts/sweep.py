"""Train a recipe over several seeds and report per-seed test figures (the docs/training.md table).

Each seed trains into <out>/seed<N> through exitflow's Python API (resumable: a finished seed is
skipped), then the flow's calibrate and evaluate steps run for the two policies the RTL decision
unit implements (margin, max_logit): the config's target calibrated on validation, applied to
the full test set (each run directory keeps the last kind). Writes <out>/sweep.json and prints a
markdown table. Seeds differ by more than most recipe changes (0.3-0.4 points on Fashion-MNIST):
compare recipes over several seeds, not one.

Run: .venv/bin/python scripts/sweep.py -c configs/fmnist3.yaml --set train.augment=none \
         --seeds 0 1 2 -o runs/sweep-noaug
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

import exitflow
from exitflow.core.files import write_json
from exitflow.core.schema import ConfigError, to_dict

REPO = Path(__file__).resolve().parents[1]

log = logging.getLogger("sweep")
KINDS = ("margin", "max_logit")


def apply_override(data: dict, assignment: str) -> None:
    """`section.key=value` (value parsed as YAML) into the config mapping."""
    key, sep, value = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r}: expected section.key=value")
    *path, last = key.split(".")
    node = data
    for part in path:
        node = node.setdefault(part, {})
    node[last] = yaml.safe_load(value)


def run_seed(base: dict, seed: int, out: Path, data_root: Path) -> dict[str, Any]:
    """Train (or reuse) one seed and its figures on the test set."""
    data = {**base, "train": {**base.get("train", {}), "seed": seed}}
    cfg = exitflow.config_from_dict(data)
    run_dir = out / f"seed{seed}"
    row: dict[str, Any] = {"seed": seed, "exit_acc": []}
    for kind in KINDS:
        policy = dataclasses.replace(cfg.policy, kind=kind)
        steps = ["train", "calibrate", "evaluate"]
        done = exitflow.run_flow(
            dataclasses.replace(cfg, policy=policy), run_dir, steps=steps, data_root=data_root
        )
        fig = done.results["evaluate"]
        row[kind] = {"acc": round(fig.accuracy, 4), "mac_fraction": round(fig.mac_fraction, 4)}
    report = json.loads(exitflow.RunLayout(run_dir).eval_report.read_text())
    row["exit_acc"] = [round(float(a), 4) for a in report["per_exit_accuracy"]]
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| seed | final exit | margin | MACs | max_logit | MACs |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        m, x = r["margin"], r["max_logit"]
        lines.append(
            f"| {r['seed']} | {r['exit_acc'][-1]:.2%} | {m['acc']:.2%} | {m['mac_fraction']:.1%} "
            f"| {x['acc']:.2%} | {x['mac_fraction']:.1%} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", required=True, help="base design config (YAML)")
    parser.add_argument("--set", action="append", default=[], help="section.key=value override")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("-o", "--output", required=True, help="sweep directory")
    parser.add_argument("--data-root", default=str(REPO / ".data"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        base = to_dict(exitflow.load_config(args.config))
        for assignment in args.set:
            apply_override(base, assignment)
        exitflow.config_from_dict(base)  # refuse a bad override before any training
        out = Path(args.output)
        rows = [run_seed(base, s, out, Path(args.data_root)) for s in args.seeds]
    except exitflow.ExitflowError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    write_json(out / "sweep.json", {"config": args.config, "overrides": args.set, "seeds": rows})
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
