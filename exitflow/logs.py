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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
    def __init__(self, bar: Progress, task_id: int) -> None:
        self._bar, self._id = bar, task_id

    def advance(self, n: int = 1) -> None:
        self._bar.advance(self._id, n)


class RichProgress:
    """quant.progress.Progress shown as rich progress bars (hidden when stderr is no terminal)."""

    def __init__(self) -> None:
        self._enabled = sys.stderr.isatty()

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[_RichTask]:
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=_console,
            transient=True,
            disable=not self._enabled,
        )
        with bar:
            yield _RichTask(bar, bar.add_task(description, total=total))
