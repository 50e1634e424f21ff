"""Where candidates are evaluated: a local process pool (default) or a Ray cluster.

Both run the same top-level functions on plain arguments and return results in order; a
failed evaluation raises in the caller with the worker's error. Ray is an optional extra
(`pip install ray`): `dse.ray_address` names the cluster ('auto', 'local' for a fresh local
instance, or host:port).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from exitflow.core.errors import ToolMissingError

__all__ = ["Executor", "LocalExecutor", "RayExecutor", "make_executor"]

log = logging.getLogger(__name__)


def _quiet() -> None:
    """Worker start-up: FINN's per-layer folding warnings go to the DSE's records instead."""
    for name in ("finn", "finn_logger", "qonnx"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _call(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    return fn(**kwargs)


class Executor:
    """map(fn, [kwargs, ...]) -> [fn(**kwargs), ...] in order."""

    name = "serial"

    def map(self, fn: Callable[..., Any], jobs: Sequence[dict[str, Any]]) -> list[Any]:
        return [fn(**kw) for kw in jobs]

    def close(self) -> None:
        """Release workers."""


class LocalExecutor(Executor):
    """A process pool on this machine (one process: in-process, no pool)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.name = f"local x{workers}"
        self._pool = ProcessPoolExecutor(workers, initializer=_quiet) if workers > 1 else None
        if self._pool is None:
            _quiet()

    def map(self, fn: Callable[..., Any], jobs: Sequence[dict[str, Any]]) -> list[Any]:
        if self._pool is None or len(jobs) < 2:
            return [fn(**kw) for kw in jobs]
        return list(self._pool.map(_call, [fn] * len(jobs), jobs))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


class RayExecutor(Executor):
    """The same calls as Ray tasks on a cluster."""

    def __init__(self, address: str) -> None:
        try:
            import ray
        except ImportError:
            raise ToolMissingError(
                "dse.ray_address is set but Ray is not installed: pip install ray (or unset "
                "dse.ray_address to use the local process pool)"
            ) from None
        self.ray = ray
        if not ray.is_initialized():
            if address == "local":
                ray.init(include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        self.name = f"ray {address}"
        self._task = ray.remote(_ray_call)

    def map(self, fn: Callable[..., Any], jobs: Sequence[dict[str, Any]]) -> list[Any]:
        return list(self.ray.get([self._task.remote(fn, kw) for kw in jobs]))


def _ray_call(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    _quiet()
    return fn(**kwargs)


def make_executor(workers: int, ray_address: str | None) -> Executor:
    """Ray when an address is given, else a local pool of `workers` processes."""
    if ray_address:
        return RayExecutor(ray_address)
    return LocalExecutor(workers)
