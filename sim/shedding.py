"""Whether a design sheds load: the hw.load_shedding setting resolved against the simulator.

`auto` enables shedding where it pays: the no-exit stream (every frame continuing, the
adversarial case) simulated without shedding runs below the single-exit baseline's throughput,
and with shedding above what it did without.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from exitflow.sim.model import Model
from exitflow.sim.run import simulate

__all__ = ["noexit_fps", "resolve_shedding"]

log = logging.getLogger(__name__)


def noexit_fps(model: Model, frames: int = 200) -> float:
    """Steady-state frames/s of `frames` saturated frames that all continue to the last exit."""
    ex = np.full(frames, model.num_exits - 1, np.int64)
    r = simulate(model, ex, engine="fast")
    span = int(r.finish.max() - r.start.min()) + 1
    return frames / span * model.clock_mhz * 1e6


def resolve_shedding(setting: str, model: Model, baseline_fps: float, frames: int = 200) -> Model:
    """The model with `shedding` set from hw.load_shedding (auto, enabled, disabled)."""
    if setting not in ("auto", "enabled", "disabled"):
        raise ValueError(f"load_shedding must be auto, enabled or disabled, got {setting!r}")
    if setting != "auto" or model.num_exits < 2:
        return replace(model, shedding=setting == "enabled")
    plain = noexit_fps(replace(model, shedding=False), frames)
    shed = noexit_fps(replace(model, shedding=True), frames)
    on = plain < baseline_fps and shed > plain
    log.info(
        "load shedding %s: no-exit %.0f frames/s without, %.0f with, baseline %.0f",
        "enabled" if on else "disabled",
        plain,
        shed,
        baseline_fps,
    )
    return replace(model, shedding=on)
