"""Shared helpers: benchmarks run the flow through exitflow's Python API, and every benchmark
writes docs/benchmarks/<topic>.json in one format."""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

import exitflow
from exitflow.cli import resolve_tools
from exitflow.core.files import write_json

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO / ".data"


def bench_run_dir(name: str) -> Path:
    """runs/bench-<name>: where the benchmarks keep a design's run (shared between them)."""
    return REPO / "runs" / f"bench-{name}"


def flow(cfg: Any, run_dir: Path, **kwargs: Any) -> exitflow.FlowResult:
    """exitflow.run_flow on `run_dir` with the project's datasets and the tools on this machine."""
    kwargs.setdefault("data_root", DATA_ROOT)
    kwargs.setdefault("tools", resolve_tools())
    kwargs.setdefault("command", " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))
    return exitflow.run_flow(cfg, run_dir, **kwargs)


def run_config(run_dir: Path, fallback: Path) -> Any:
    """The config a run was last made with (its config.yaml), else the config file `fallback`.

    A later benchmark must continue with the run's own config: a differing policy or model
    section would make the earlier steps stale (StaleError) instead of reusing them.
    """
    path = exitflow.RunLayout(run_dir).config
    return exitflow.load_config(path if path.is_file() else fallback)


def add_json_option(parser: argparse.ArgumentParser, topic: str) -> None:
    """--json PATH: where the figures go (default docs/benchmarks/<topic>.json)."""
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help=f"write the figures here instead of docs/benchmarks/{topic}.json",
    )


def machine() -> str:
    """A one-line description of the machine the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def write_benchmark(
    topic: str, figures: dict[str, float], command: str | None = None, path: Path | None = None
) -> Path:
    """Write docs/benchmarks/<topic>.json (or `path`) with the command that produced the figures."""
    payload = {
        "command": command
        or " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "figures": {k: float(v) for k, v in figures.items()},
    }
    return write_json(path or REPO / "docs" / "benchmarks" / f"{topic}.json", payload)
