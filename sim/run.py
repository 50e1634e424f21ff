"""The simulator's entry point: one exit sequence through the model, with either engine."""

from __future__ import annotations

import numpy as np

from exitflow.sim.model import Model, as_int_array
from exitflow.sim.result import RunResult
from exitflow.sim.stats import fast_run
from exitflow.sim.stepper import StepperEngine

ENGINES = ("fast", "stepper")


def simulate(
    model: Model,
    exit_index: np.ndarray,
    arrival: np.ndarray | None = None,
    engine: str = "fast",
    keep_events: bool | None = None,
    buffer_events: bool = False,
) -> RunResult:
    """Per-frame cycles and counters; arrival None means saturated input (every frame at 0).

    keep_events: the fast engine keeps every beat's cycle (extra["engine"], for a trace);
    None keeps them for short runs only (sim.stats.KEEP_FRAMES). buffer_events: every
    conditional-buffer beat in extra["buffers"] (the occupancy plot) even when not kept.

    Raises DeadlockError (node, frame, cycle) for a design that cannot drain.
    """
    n = len(exit_index)
    ex = as_int_array(exit_index, n, "exit_index")
    if n and (ex.min() < 0 or ex.max() >= model.num_exits):
        raise ValueError(f"exit_index must lie in 0..{model.num_exits - 1}")
    arr = np.zeros(n, np.int64) if arrival is None else as_int_array(arrival, n, "arrival")
    if n and (arr.min() < 0 or np.any(np.diff(arr) < 0)):
        raise ValueError("arrival cycles must be >= 0 and non-decreasing (frames enter in order)")
    if engine == "fast":
        return fast_run(model, ex, arr, keep_events, buffers=buffer_events)
    if engine == "stepper":
        return StepperEngine(model, ex, arr).run()
    raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
