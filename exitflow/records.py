"""Step records: what a step consumed (input digests, config sections), its status and result.

A record lives at run_dir/.steps/<step>.json and is written atomically, last, after the step's
outputs are in place; while the step runs it says "running". A step is fresh when its record is
"done" and the digests of its inputs and config sections still equal the recorded ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exitflow.core.files import write_json

__all__ = ["StepRecord", "config_digest", "file_digest", "path_digest", "read_record"]

RUNNING, DONE, FAILED = "running", "done", "failed"

# (path, size, mtime_ns) -> sha256: a file is hashed once per process unless it changes
_CACHE: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a file's content, cached on (path, size, mtime) within the process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _CACHE[key] = h.hexdigest()
    return _CACHE[key]


def path_digest(path: Path) -> str | None:
    """Digest of a file, or of every file under a directory (names and contents); None if absent."""
    if path.is_file():
        return file_digest(path)
    if not path.is_dir():
        return None
    h = hashlib.sha256()
    for sub in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(sub.relative_to(path).as_posix().encode() + b"\0")
        h.update(file_digest(sub).encode())
    return h.hexdigest()


def config_digest(section: Any) -> str:
    """Digest of a plain (to_dict) config value."""
    text = json.dumps(section, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class StepRecord:
    """What one run of a step consumed and made (run_dir/.steps/<step>.json)."""

    step: str
    status: str
    inputs: dict[str, str | None] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str | None = None
    started: float = 0.0
    finished: float | None = None
    command: str = ""
    version: str = ""
    config_snapshot: dict[str, Any] = field(default_factory=dict)

    def changes(self, inputs: dict[str, str | None], config: dict[str, str]) -> list[str]:
        """Names of the inputs and config sections that differ from the recorded ones."""
        changed = [
            k for k in sorted(set(self.inputs) | set(inputs)) if self.inputs.get(k) != inputs.get(k)
        ]
        changed += [
            f"config {k}"
            for k in sorted(set(self.config) | set(config))
            if self.config.get(k) != config.get(k)
        ]
        return changed

    def write(self, path: Path) -> None:
        write_json(path, self.__dict__)


def read_record(path: Path) -> StepRecord | None:
    """The record at `path`, or None if there is none (or it is unreadable: treated as absent)."""
    try:
        data = json.loads(path.read_text())
        return StepRecord(**data)
    except (OSError, ValueError, TypeError):
        return None
