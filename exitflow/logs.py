"""Logging and progress set-up: owned by the CLI, never by library code."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["ConsoleProgress", "RichProgress", "setup_logging"]

_log = logging.getLogger("exitflow.progress")

# Logs piped to a file or CI should not wrap at rich's default 80 columns.
_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def setup_logging(log_dir: Path | None, command: str, verbose: bool = False) -> Path | None:
    """Console logging via rich, plus one log file per run under `log_dir`; returns its path."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG)
    console = RichHandler(console=_console, show_path=False, rich_tracebacks=False)
    console.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.addHandler(console)
    for noisy in ("matplotlib", "PIL", "onnx", "onnxscript", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if log_dir is None:
        return None
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setLevel(logging.DEBUG)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    return path


class _RichTask:
    def __init__(self, bar: Progress, task_id: TaskID) -> None:
        self._bar, self._id = bar, task_id

    def advance(self, n: int = 1) -> None:
        self._bar.advance(self._id, n)


class _LogTask:
    """Progress as log lines: every `step` of the total or every `interval` seconds."""

    def __init__(self, description: str, total: int | None, step: float, interval: float) -> None:
        self._desc, self._total = description, total
        self._step, self._interval = step, interval
        self._done = 0
        self._start = self._last_time = time.monotonic()
        self._last_bucket = 0

    def advance(self, n: int = 1) -> None:
        self._done += n
        now = time.monotonic()
        frac = self._done / self._total if self._total else 0.0
        bucket = int(frac / self._step + 1e-9)  # whole steps of the total done so far
        if bucket <= self._last_bucket and now - self._last_time < self._interval:
            return
        self._last_bucket, self._last_time = bucket, now
        elapsed = now - self._start
        if self._total:
            eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
            _log.info(
                "%s: %d/%d (%.0f%%), %.0f s elapsed, about %.0f s left",
                self._desc, self._done, self._total, 100 * frac, elapsed, eta,
            )  # fmt: skip
        else:
            _log.info("%s: %d done, %.0f s elapsed", self._desc, self._done, elapsed)


class ConsoleProgress:
    """exitflow.core.progress.Progress for the CLI: rich bars with an ETA on a terminal; without
    one (CI, nohup, a pipe) periodic log lines, every `step` of the total or `interval` seconds."""

    def __init__(
        self, terminal: bool | None = None, step: float = 0.1, interval: float = 30.0
    ) -> None:
        self._terminal = sys.stderr.isatty() if terminal is None else terminal
        self._step, self._interval = step, interval

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[_RichTask | _LogTask]:
        if not self._terminal:
            yield _LogTask(description, total, self._step, self._interval)
            return
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=_console,
            transient=True,
        )
        with bar:
            yield _RichTask(bar, bar.add_task(description, total=total))


RichProgress = ConsoleProgress  # the older name
