"""Evaluations cached on disk, one JSON file per digest of what was evaluated and its inputs.

An interrupted search resumes: every finished evaluation is on disk (written atomically) and a
rerun reads it back instead of evaluating again. A key changes with anything the result depends
on (the partition checkpoint's bytes, the target, the part, FINN's version, the candidate), so a
stale entry is never found, only left behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from exitflow.core.files import write_json

__all__ = ["DiskCache", "digest", "file_digest"]

log = logging.getLogger(__name__)


def digest(*parts: Any) -> str:
    """A short stable digest of JSON-serialisable parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (first 24 hex digits)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:24]


class DiskCache:
    """`get(key)` / `put(key, value)` of JSON values under `root/<kind>/<key>.json`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.json"

    def get(self, kind: str, key: str) -> Any | None:
        path = self._path(kind, key)
        try:
            value = json.loads(path.read_text())
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError):  # a damaged entry is evaluated again, never trusted
            log.warning("dse cache: unreadable %s, evaluating again", path)
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, kind: str, key: str, value: Any) -> None:
        write_json(self._path(kind, key), value)
