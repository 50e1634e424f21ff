"""Input arrival processes: the cycle each frame is offered to the input DMA."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exitflow.core.errors import ConfigError
from exitflow.sim.config import Arrival, SimConfig


def read_trace(path: str | Path, n: int) -> np.ndarray:
    """Arrival cycles from a text file: one integer per line, non-decreasing; '#' comments."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"arrival trace {path} does not exist (sim.trace_path)")
    cycles: list[int] = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{path}:{lineno}: expected an integer cycle, got {text!r}") from None
        if value < 0 or (cycles and value < cycles[-1]):
            raise ValueError(
                f"{path}:{lineno}: cycles must be >= 0 and non-decreasing, got {value}"
            )
        cycles.append(value)
        if len(cycles) == n:
            break
    if len(cycles) < n:
        raise ValueError(
            f"{path} gives {len(cycles)} arrival cycles but {n} frames are simulated: add lines "
            "or lower sim.frames"
        )
    return np.asarray(cycles, np.int64)


def arrival_cycles(cfg: SimConfig, n: int, base: Path | None = None) -> np.ndarray:
    """int64 [n]: saturated (all at 0), periodic (f * period) or from the trace file."""
    if cfg.arrival == Arrival.SATURATED:
        return np.zeros(n, np.int64)
    if cfg.arrival == Arrival.PERIODIC:
        return np.arange(n, dtype=np.int64) * cfg.period_cycles
    if cfg.trace_path is None:  # SimConfig refuses this; a hand-made one may not
        raise ConfigError("sim.arrival is 'trace' but sim.trace_path is not set: set it")
    path = Path(cfg.trace_path)
    if not path.is_absolute() and base is not None:
        path = base / path
    return read_trace(path, n)
