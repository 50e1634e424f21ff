"""Train a recipe over several seeds and report per-seed test figures (the docs/training.md table).

Each seed trains into <out>/seed<N> (resumable: a finished seed is skipped), then the config's
policy target is calibrated on validation for the two policies the RTL decision unit implements
(margin, max_logit) and applied to the full test set. Writes <out>/sweep.json and prints a
markdown table. Seeds differ by more than most recipe changes (0.3-0.4 points on Fashion-MNIST):
compare recipes over several seeds, not one.

Run: .venv/bin/python scripts/sweep.py -c configs/fmnist3.yaml --set train.augment=none \
         --seeds 0 1 2 -o runs/sweep-noaug
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from exitflow.config import config_from_dict, load_config  # noqa: E402
from exitflow.context import RunContext  # noqa: E402
from exitflow.core.files import write_json  # noqa: E402
from exitflow.core.outputs import load_outputs  # noqa: E402
from exitflow.core.policies import apply_policy  # noqa: E402
from exitflow.core.schema import ConfigError, to_dict  # noqa: E402
from exitflow.quant.calibrate import calibrate, summarise  # noqa: E402
from exitflow.step_quant import step_train  # noqa: E402

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
    cfg = config_from_dict(data)
    run_dir = out / f"seed{seed}"
    step_train(RunContext(cfg=cfg, run_dir=run_dir, data_root=data_root))
    val = load_outputs(run_dir / "eval" / "outputs_val.npz")
    test = load_outputs(run_dir / "eval" / "outputs_test.npz")
    exit_acc = (test.logits.argmax(2) == test.labels[:, None]).mean(0)
    row: dict[str, Any] = {"seed": seed, "exit_acc": [round(float(a), 4) for a in exit_acc]}
    for kind in KINDS:
        spec, _ = calibrate(val, dataclasses.replace(cfg.policy, kind=kind))
        fig = summarise(*apply_policy(test.logits, spec), test)
        row[kind] = {
            "acc": round(fig["accuracy"], 4),
            "mac_fraction": round(fig["mac_fraction"], 4),
        }
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
        base = to_dict(load_config(args.config))
        for assignment in args.set:
            apply_override(base, assignment)
        config_from_dict(base)  # refuse a bad override before any training
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    rows = [run_seed(base, s, out, Path(args.data_root)) for s in args.seeds]
    write_json(out / "sweep.json", {"config": args.config, "overrides": args.set, "seeds": rows})
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
