"""The `exitflow` command line: resolves paths and tools once, owns logging and progress."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from exitflow import __version__
from exitflow.config import ConfigError, ProjectConfig, dump_config, load_config, save_config
from exitflow.context import RunContext, StepUnavailable, ToolPaths
from exitflow.core.schema import describe
from exitflow.logs import RichProgress, setup_logging
from exitflow.steps import FLOW, STEPS, run_step

log = logging.getLogger("exitflow")


def _which(name: str, env_dir: str | None = None) -> Path | None:
    if env_dir:
        candidate = Path(env_dir) / "bin" / name
        if candidate.exists():
            return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def resolve_tools(vivado: str | None = None) -> ToolPaths:
    """Find external tools once: explicit option, then XILINX_* variables, then PATH."""
    return ToolPaths(
        vivado=Path(vivado) if vivado else _which("vivado", os.environ.get("XILINX_VIVADO")),
        vitis_hls=_which("vitis_hls", os.environ.get("XILINX_HLS")),
        verilator=_which("verilator"),
        iverilog=_which("iverilog"),
    )


def default_data_root() -> Path:
    """The data directory `make` fills (.data beside the checkout), or $EXITFLOW_DATA."""
    if os.environ.get("EXITFLOW_DATA"):
        return Path(os.environ["EXITFLOW_DATA"])
    return Path.cwd() / ".data"


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, help="design config file (YAML)")
    p.add_argument(
        "-o", "--output", help="run directory (default: the config's output_dir or runs/<name>)"
    )
    p.add_argument("--data-root", help="dataset directory (default: ./.data, as `make data` fills)")
    p.add_argument("--vivado", help="path to the vivado binary (default: $XILINX_VIVADO or PATH)")
    p.add_argument("--force", action="store_true", help="redo the step even if its outputs exist")
    p.add_argument("-v", "--verbose", action="store_true", help="debug output on the console")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exitflow",
        description="Early-exit CNNs from brevitas QAT to a gated FINN dataflow, simulated cycle by cycle.",
    )
    parser.add_argument("--version", action="version", version=f"exitflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, _, doc) in STEPS.items():
        _add_run_args(sub.add_parser(name, help=doc, description=doc))
    run = sub.add_parser(
        "run", help="the whole flow: " + " -> ".join(FLOW), description="run every step in order"
    )
    _add_run_args(run)
    run.add_argument("--from", dest="start", choices=FLOW, help="first step to run")
    run.add_argument("--to", dest="stop", choices=FLOW, help="last step to run")
    cfg = sub.add_parser("config", help="write, check or describe a config file")
    group = cfg.add_mutually_exclusive_group(required=True)
    group.add_argument("--init", metavar="PATH", help="write a config with every default to PATH")
    group.add_argument(
        "--check", metavar="PATH", help="validate PATH and print it with defaults filled"
    )
    group.add_argument(
        "--describe", action="store_true", help="list every key, its default and doc"
    )
    return parser


def _config_command(args: argparse.Namespace) -> int:
    if args.init:
        path = Path(args.init)
        if path.exists():
            print(f"error: {path} exists; not overwriting it", file=sys.stderr)
            return 2
        save_config(ProjectConfig(), path)
        print(f"wrote {path}")
    elif args.check:
        print(dump_config(load_config(args.check)), end="")
    else:
        for key, default, doc in describe(ProjectConfig):
            print(f"{key:34s} {default:22s} {doc}")
    return 0


def _run_command(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    run_dir = Path(args.output) if args.output else cfg.run_dir(Path.cwd())
    log_path = setup_logging(run_dir / "logs", args.command, args.verbose)
    save_config(cfg, run_dir / "config.yaml")
    ctx = RunContext(
        cfg=cfg,
        run_dir=run_dir,
        data_root=Path(args.data_root) if args.data_root else default_data_root(),
        tools=resolve_tools(args.vivado),
        progress=RichProgress(),
        force=args.force,
    )
    log.info(
        "exitflow %s, design %r, run directory %s, log %s", __version__, cfg.name, run_dir, log_path
    )
    if args.command != "run":
        run_step(args.command, ctx)
        return 0
    steps = FLOW[FLOW.index(args.start or FLOW[0]) : FLOW.index(args.stop or FLOW[-1]) + 1]
    skipped = []
    for name in steps:
        start = time.monotonic()
        try:
            run_step(name, ctx)
        except StepUnavailable as exc:
            log.warning("%s", exc)
            skipped.append(name)
            continue
        log.info("step %s done in %.1f s", name, time.monotonic() - start)
    if skipped:
        log.warning("not run: %s (see the messages above)", ", ".join(skipped))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "config":
            return _config_command(args)
        return _run_command(args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except StepUnavailable as exc:
        print(f"not available: {exc}", file=sys.stderr)
        return 3
    except (ValueError, FileNotFoundError) as exc:
        # user-fixable problems (missing dataset, bad input file): the message names the fix;
        # the traceback goes to the run's log file only
        log.debug("traceback", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished artefacts are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
