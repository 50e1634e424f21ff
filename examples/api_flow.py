"""Drive the exitflow flow from Python and print one line per step's typed result.

Without -c it runs a tiny design (the synthetic 16x16 dataset, the `tiny` preset, about 15 s on
two cores including the FINN build); with -c it runs your config. Running it again skips what is
up to date. docs/api.md explains the API this uses.

Run: .venv/bin/python examples/api_flow.py [-c design.yaml] [-o runs/api-flow] [--to evaluate]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

import exitflow
from exitflow.tiny_design import tiny_design

# the tiny design: learns the synthetic patterns to about 95 % in a few seconds
TINY = tiny_design("api-flow-tiny")


def describe(result: Any, run_dir: Path) -> str:
    """One line of a step's typed result: its fields, paths relative to the run, floats rounded."""
    if not dataclasses.is_dataclass(result):
        return repr(result)
    parts = []
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, Path):
            value = value.relative_to(run_dir) if value.is_relative_to(run_dir) else value
        elif isinstance(value, str) and len(value) > 60:
            value = value[:57] + "..."
        parts.append(f"{field.name}={value}")
    return f"{type(result).__name__}({', '.join(parts)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", help="design config (YAML); default: the tiny design")
    parser.add_argument("-o", "--output", help="run directory; default: the config's, runs/<name>")
    parser.add_argument("--data-root", default=".data", help="dataset directory (default .data)")
    parser.add_argument("--from", dest="start", choices=exitflow.FLOW, help="first step")
    parser.add_argument("--to", dest="stop", choices=exitflow.FLOW, help="last step")
    parser.add_argument("--force", action="store_true", help="redo the steps even if up to date")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step's progress")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        cfg = exitflow.load_config(args.config) if args.config else exitflow.config_from_dict(TINY)
        flow = exitflow.run_flow(
            cfg,
            args.output,
            start=args.start,
            stop=args.stop,
            force=args.force,
            data_root=args.data_root,
            command="examples/api_flow.py",
        )
    except exitflow.ExitflowError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return err.exit_code
    print(f"run directory: {flow.run.run_dir}")
    for outcome in flow.outcomes:
        what = f"ran in {outcome.seconds:.1f} s" if outcome.ran else "up to date"
        print(f"{outcome.name:9} {what:16} {describe(outcome.result, flow.run.run_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
