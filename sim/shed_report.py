"""hw.load_shedding at `exitflow simulate`: the setting resolved (exitflow.sim.shedding) and the
report's load-shedding figures (docs/simulator.md, "Load shedding").

Figures, all on the no-exit stream (every frame continuing by policy, the adversarial case):
its throughput without and with shedding against the single-exit baseline's, the frames forced
at each exit, and the accuracy kept when each forced frame takes its exit's own top-1 (the
reference logits), beside the final exit's accuracy on the same frames.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from exitflow.core.outputs import Outputs
from exitflow.sim.decisions import never_exit
from exitflow.sim.hwdesc import HwDesc
from exitflow.sim.model import Model
from exitflow.sim.result import RunResult
from exitflow.sim.run import simulate
from exitflow.sim.shedding import noexit_fps, resolve_shedding

__all__ = ["apply_load_shedding", "forced_counts"]

log = logging.getLogger(__name__)


def forced_counts(r: RunResult, num_exits: int) -> list[int]:
    """Frames forced out at each exit of a run."""
    forced = np.asarray(r.forced, dtype=bool)
    if forced.shape != np.shape(r.exit_index):  # a run without shedding forces nothing
        return [0] * num_exits
    return np.bincount(np.asarray(r.exit_index)[forced], minlength=num_exits).tolist()


def apply_load_shedding(
    setting: str, model: Model, desc: HwDesc, outputs: Outputs, frames: int
) -> tuple[Model, dict[str, Any]]:
    """The model with hw.load_shedding applied, and the report's figures over `frames` test
    frames of `outputs`. Without a baseline in the hwdesc, auto leaves shedding off."""
    base = desc.baseline or {}
    cpf = base.get("cycles_per_frame")
    baseline_fps = model.clock_mhz * 1e6 / float(cpf) if cpf else None
    if setting == "auto" and baseline_fps is None:
        log.info("load shedding auto: no single-exit baseline in the hwdesc, left disabled")
        resolved = resolve_shedding("disabled", model, 0.0)
    else:
        resolved = resolve_shedding(setting, model, baseline_fps or 0.0)
    out: dict[str, Any] = {"setting": setting, "enabled": resolved.shedding}
    if model.num_exits < 2:
        return resolved, out
    worst = simulate(replace(model, shedding=True), never_exit(frames, model.num_exits))
    ex = np.asarray(worst.exit_index)
    logits = outputs.logits[:frames]
    rows = np.arange(frames)
    kept = np.argmax(logits[rows, ex], axis=1) == outputs.labels[:frames]
    final = np.argmax(logits[:, -1], axis=1) == outputs.labels[:frames]
    out.update(
        baseline_fps=baseline_fps,
        noexit_fps_without=noexit_fps(replace(model, shedding=False)),
        noexit_fps_with=noexit_fps(replace(model, shedding=True)),
        noexit_frames=frames,
        noexit_forced=int(np.sum(worst.forced)),
        noexit_forced_per_exit=forced_counts(worst, model.num_exits),
        accuracy_kept=float(np.mean(kept)),
        accuracy_final_exit=float(np.mean(final)),
    )
    return resolved, out
