"""A run: one design's config, its run directory (layout, lock, step records) and how steps run.

`Run` is what every step receives (`step(run) -> result`). It holds everything resolved once at
the edge (data root, tool paths, progress display) so that library code reads no environment.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exitflow.core.errors import ConfigError, RunLockedError
from exitflow.core.progress import NullProgress, Progress
from exitflow.layout import RunLayout
from exitflow.records import DONE, FAILED, RUNNING, StepRecord, read_record

__all__ = ["Run", "ToolPaths"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolPaths:
    """External tools found on PATH or named by the user; None where absent."""

    vivado: Path | None = None
    vitis_hls: Path | None = None
    verilator: Path | None = None


@dataclass
class Run:
    """One design's run directory and what its steps need.

    Attributes:
        cfg: the design (exitflow.config.ProjectConfig).
        run_dir: where the artefacts go; `layout` names every path in it.
        data_root: directory holding the datasets.
        tools: external tools (None where absent: the steps that need one skip that part or fail
            with ToolMissingError).
        progress: how long steps show progress (exitflow.logs.ConsoleProgress, or nothing).
        force: redo steps even when they are up to date.
        command: what started this run (shown to a second command that finds it locked).
    """

    cfg: Any
    run_dir: Path
    data_root: Path = Path(".data")
    tools: ToolPaths = field(default_factory=ToolPaths)
    progress: Progress = field(default_factory=NullProgress)
    force: bool = False
    command: str = "python"
    _lock_fd: int | None = field(default=None, init=False, repr=False, compare=False)
    _lock_depth: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        self.data_root = Path(self.data_root)

    @property
    def layout(self) -> RunLayout:
        """Named paths of the run directory."""
        return RunLayout(self.run_dir)

    def record(self, step: str) -> StepRecord | None:
        """The record of `step`'s last run (None if it never ran here)."""
        return read_record(self.layout.record(step))

    def done(self) -> list[str]:
        """Steps whose last run succeeded (fresh or not: see exitflow.runner.step_state)."""
        names = sorted(p.stem for p in self.layout.records_dir.glob("*.json"))
        return [n for n in names if (r := self.record(n)) is not None and r.status == DONE]

    def result(self, step: str) -> Any:
        """The typed result of `step`'s last successful run (None if it has none)."""
        from exitflow.results import result_from_record

        rec = self.record(step)
        if rec is None or rec.status != DONE:
            return None
        return result_from_record(self.layout, rec.result)

    @contextlib.contextmanager
    def locked(self) -> Iterator[Run]:
        """Hold run_dir/.lock (re-entrant in this Run); refuse with RunLockedError if taken."""
        if self._lock_fd is not None:
            self._lock_depth += 1
            try:
                yield self
            finally:
                self._lock_depth -= 1
            return
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise ConfigError(
                f"the run directory {self.run_dir} is a file: pass a directory with -o "
                "(or set output_dir in the config)"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.layout.lock
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(path)
            os.close(fd)
            raise RunLockedError(
                f"{self.run_dir} is in use by process {holder.get('pid', '?')} "
                f"(`{holder.get('command', '?')}`, since {holder.get('since', '?')}): wait for it "
                "to finish, or give this command another run directory (-o)"
            ) from None
        os.ftruncate(fd, 0)
        holder = {"pid": os.getpid(), "command": self.command, "since": time.strftime("%H:%M:%S")}
        os.write(fd, json.dumps(holder).encode())
        self._lock_fd = fd
        try:
            _recover(self.layout)
            yield self
        finally:
            self._lock_fd = None
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text() or "{}"))
    except (OSError, ValueError):
        return {}


def _recover(layout: RunLayout) -> None:
    """Finish what a killed command left: roll back a step that was running, drop stale backups.

    Only called under the lock, so a "running" record here belongs to a process that is gone.
    """
    root = layout.run_dir / ".previous"
    for prev in sorted(root.glob("*")) if root.is_dir() else []:
        rec = read_record(layout.record(prev.name))
        if rec is not None and rec.status == RUNNING:
            log.warning(
                "%s was interrupted last time: its previous outputs are restored", prev.name
            )
            restore_previous(layout, prev.name, rec.outputs)
        else:
            shutil.rmtree(prev)
    for path in layout.records_dir.glob("*.json") if layout.records_dir.is_dir() else []:
        rec = read_record(path)
        if rec is not None and rec.status == RUNNING:
            rec.status, rec.error = "incomplete", "interrupted (the process was killed)"
            rec.write(path)


def remove(path: Path) -> None:
    """Delete a file or a directory tree, if present."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def move_aside(layout: RunLayout, step: str, outputs: list[str]) -> None:
    """Move a step's current outputs and record under .previous/<step> (same filesystem: renames)."""
    prev = layout.previous(step)
    remove(prev)
    for rel in outputs:
        src = layout.run_dir / rel
        if src.exists():
            (prev / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, prev / rel)
    if layout.record(step).exists():
        prev.mkdir(parents=True, exist_ok=True)
        os.replace(layout.record(step), prev / ".record.json")


def restore_previous(layout: RunLayout, step: str, outputs: list[str]) -> None:
    """Undo move_aside: the partial new outputs go, the previous ones and their record return."""
    prev = layout.previous(step)
    for rel in outputs:
        remove(layout.run_dir / rel)
        if (prev / rel).exists():
            (layout.run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(prev / rel, layout.run_dir / rel)
    if (prev / ".record.json").exists():
        layout.records_dir.mkdir(parents=True, exist_ok=True)
        os.replace(prev / ".record.json", layout.record(step))
    else:
        remove(layout.record(step))
    remove(prev)


# statuses a record can hold; FAILED: outputs complete but judged bad (kept for inspection)
STATUSES = (RUNNING, DONE, FAILED, "incomplete")
