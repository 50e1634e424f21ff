"""Shared helper: every benchmark writes docs/benchmarks/<topic>.json in one format."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from exitflow.core.files import write_json  # noqa: E402


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


def write_benchmark(topic: str, figures: dict[str, float], command: str | None = None) -> Path:
    """Write docs/benchmarks/<topic>.json with the command that produced the figures."""
    payload = {
        "command": command
        or " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "figures": {k: float(v) for k, v in figures.items()},
    }
    return write_json(REPO / "docs" / "benchmarks" / f"{topic}.json", payload)
