"""The `exitflow` command line: a thin shell over exitflow.runner.

It resolves paths and tools once, owns logging and progress, and maps every ExitflowError to its
exit code (docs/errors.md) with one message and no traceback (--debug shows it; the run's log
file always has it).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import traceback
from pathlib import Path

from exitflow import __version__
from exitflow.config import ProjectConfig, dump_config, load_config, save_config
from exitflow.core.errors import (
    EXIT_CODES,
    BudgetError,
    ConfigError,
    DataError,
    ExitflowError,
    PrerequisiteError,
    RunLockedError,
    SimulationError,
    StaleError,
    ToolMissingError,
    VerificationError,
)
from exitflow.core.schema import describe
from exitflow.logs import ConsoleProgress, setup_logging
from exitflow.run import Run, ToolPaths
from exitflow.runner import run_flow, run_step
from exitflow.steps import FLOW, STEPS, flow_steps

__all__ = ["build_parser", "check_bounds", "default_data_root", "main", "resolve_tools"]

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
    )


def default_data_root() -> Path:
    """The data directory `make` fills (.data beside the checkout), or $EXITFLOW_DATA."""
    if os.environ.get("EXITFLOW_DATA"):
        return Path(os.environ["EXITFLOW_DATA"])
    return Path.cwd() / ".data"


# what the CLI prints before an error's message, by class (most specific first)
_LABELS: list[tuple[type[ExitflowError], str]] = [
    (ConfigError, "config error"),
    (StaleError, "stale"),
    (PrerequisiteError, "missing prerequisite"),
    (ToolMissingError, "missing tool"),
    (DataError, "data error"),
    (VerificationError, "verification failed"),
    (SimulationError, "simulation failed"),
    (BudgetError, "over budget"),
    (RunLockedError, "run locked"),
]


def _label(exc: ExitflowError) -> str:
    return next((text for cls, text in _LABELS if isinstance(exc, cls)), "error")


_OPTION_HELP = {
    "data_root": "--data-root: where the datasets are",
    "vivado": "--vivado: the Vivado binary (without it the build stops after code generation)",
}


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, help="design config file (YAML)")
    p.add_argument(
        "-o", "--output", help="run directory (default: the config's output_dir or runs/<name>)"
    )
    p.add_argument("--force", action="store_true", help="redo the step(s) even if up to date")
    p.add_argument("-v", "--verbose", action="store_true", help="debug output on the console")
    p.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (the log has it)"
    )


def _add_options(p: argparse.ArgumentParser, options: set[str]) -> None:
    if "data_root" in options:
        p.add_argument(
            "--data-root", help="dataset directory (default: ./.data, as `make data` fills)"
        )
    if "vivado" in options:
        p.add_argument(
            "--vivado", help="path to the vivado binary (default: $XILINX_VIVADO or PATH)"
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one command per step, plus `run` and `config`."""
    parser = argparse.ArgumentParser(
        prog="exitflow",
        description="Early-exit CNNs from brevitas QAT to a gated FINN dataflow, simulated cycle by cycle.",
        epilog="Exit codes: "
        + "; ".join(f"{code} {text.split(' (')[0]}" for code, text in EXIT_CODES.items()),
    )
    parser.add_argument("--version", action="version", version=f"exitflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, step in STEPS.items():
        desc = step.describe()
        if step.options:
            desc += (
                " Options for this step: " + "; ".join(_OPTION_HELP[o] for o in step.options) + "."
            )
        p = sub.add_parser(name, help=step.doc, description=desc)
        _add_common(p)
        _add_options(p, set(step.options))
    run = sub.add_parser(
        "run",
        help="the whole flow: " + " -> ".join(FLOW),
        description="Run the steps in order (" + " -> ".join(FLOW) + "), each only if its inputs "
        "or config changed since it last ran (--force: every step); stops at the first failure.",
    )
    _add_common(run)
    _add_options(run, {o for s in STEPS.values() for o in s.options})
    # the config decides the flow (flow.dse adds explore): checked against it in _run_command
    every = [FLOW[0], "explore", *FLOW[1:]]
    run.add_argument(
        "--from", dest="start", metavar="STEP", help="first step to run: " + ", ".join(every)
    )
    run.add_argument("--to", dest="stop", metavar="STEP", help="last step to run (as --from)")
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
            raise ConfigError(f"{path} exists; not overwriting it (pick another path)")
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
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(
            f"the run directory {run_dir} is a file: pass a directory with -o (or set output_dir)"
        )
    log_path = setup_logging(run_dir / "logs", args.command, args.verbose)
    data_root = getattr(args, "data_root", None)
    run = Run(
        cfg=cfg,
        run_dir=run_dir,
        data_root=Path(data_root) if data_root else default_data_root(),
        tools=resolve_tools(getattr(args, "vivado", None)),
        progress=ConsoleProgress(),
        force=args.force,
        command="exitflow " + " ".join(sys.argv[1:] or [args.command]),
    )
    log.info(
        "exitflow %s, design %r, run directory %s, log %s", __version__, cfg.name, run_dir, log_path
    )
    if args.command == "run":
        check_bounds(cfg, args.start, args.stop)
        flow = run_flow(run, start=args.start, stop=args.stop)
        skipped = [o.name for o in flow.outcomes if not o.ran]
        log.info(
            "ran: %s; up to date: %s",
            ", ".join(flow.ran) or "nothing",
            ", ".join(skipped) or "nothing",
        )
    else:
        run_step(args.command, run)
    return 0


def check_bounds(cfg: ProjectConfig, start: str | None, stop: str | None) -> None:
    """ConfigError unless --from/--to name steps of the config's own flow (flow_steps: FLOW,
    with explore when flow.dse is set)."""
    names = flow_steps(cfg)
    for flag, step in (("--from", start), ("--to", stop)):
        if step is None or step in names:
            continue
        fix = (
            "set flow.dse: true to explore first, or start from train or build"
            if step == "explore"
            else f"use one of {', '.join(names)}"
        )
        raise ConfigError(
            f"{flag} {step}: not a step of this config's flow ({' -> '.join(names)}): {fix}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (see docs/errors.md)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "config":
            return _config_command(args)
        return _run_command(args)
    except ExitflowError as exc:
        log.debug("%s", type(exc).__name__, exc_info=True)  # the traceback goes to the log file
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"{_label(exc)}: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # the reader went away (`exitflow config --describe | head`): not an error of ours;
        # point stdout at devnull so the interpreter's final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        log.debug("interrupted", exc_info=True)
        print(
            "interrupted; completed steps are kept and the interrupted one is rolled back or "
            "resumes: rerun the command",
            file=sys.stderr,
        )
        return 130
    except Exception:
        log.error("internal error", exc_info=True)
        print(
            "internal error (a bug in exitflow): please report it with the traceback above and "
            "the run's log file",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
