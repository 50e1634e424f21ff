"""Progress reporting hook: library code reports, the CLI decides how it is shown."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol


class Task(Protocol):
    """One unit of long work with a known or unknown total."""

    def advance(self, n: int = 1) -> None: ...


class Progress(Protocol):
    """Factory of tasks; the CLI passes a rich-based one, tests and libraries the null one."""

    def task(
        self, description: str, total: int | None = None
    ) -> contextlib.AbstractContextManager[Task]: ...


class _NullTask:
    def advance(self, n: int = 1) -> None:
        return None


class NullProgress:
    """Shows nothing."""

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Task]:
        yield _NullTask()
