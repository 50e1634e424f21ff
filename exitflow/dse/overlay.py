"""The chosen design as settings `exitflow build` reads: a config overlay and a whole config.

dse/overlay.yaml holds only the sections the search decided: policy.thresholds (the chosen
point of the trade-off curve), hw.target_fps and hw.stage_rate_fractions (the stage targets:
target_fps is the fastest stage's frame rate, each fraction its own over it),
hw.cond_buffer_frames, and hw.folding_overrides with every PE/SIMD (and window generator's
parallel_window) the search's folding reached (so the build reproduces it exactly, also where the
search raised FINN's mvau_wwidth_max or folded a head for less than its stage's target),
hw.keep_exits (the chosen non-final exits; null when it keeps every exit, and the thresholds of
left-out exits are inf) and hw.load_shedding (enabled when the chosen design sheds, else
disabled: the design as it was simulated; a shedding design also sets sim.arrival periodic at
the rate the search served it at). dse/design.yaml is the run's config with the overlay merged: `exitflow build -c
<run>/dse/design.yaml -o <run>` builds it (calibrate and export rerun for the new thresholds).
"""

from __future__ import annotations

import copy
from typing import Any

from exitflow.dse.candidates import Candidate, partition_targets
from exitflow.dse.compose import Topology
from exitflow.hw.config import LoadShedding

__all__ = ["merge", "overlay"]


def overlay(c: Candidate, topo: Topology, folds: dict[tuple[str, int], dict], clock_mhz: float
            ) -> dict[str, Any]:  # fmt: skip
    """The config sections of the chosen design: its thresholds, exits, stage targets, buffer
    depth, shedding and folding."""
    # target_fps is the fastest stage's rate, so that every fraction is <= 1 (hw config) and each
    # stage is folded for its own target: a stage folded for a tighter target than the search's
    # would differ beyond PE/SIMD (SetFolding's parallel_window of a window generator)
    t0 = min(c.targets)
    fps = clock_mhz * 1e6 / t0
    overrides = {}
    for name, t in c.parts or partition_targets(topo, c.point.keep, c.targets):
        fold = folds[(name, t)].get("folding") or {}
        if fold:
            overrides[name] = {node: dict(v) for node, v in fold.items()}
    non_final = len(topo.exit_after) - 1
    keep = None if len(c.point.keep) == non_final else sorted(int(e) for e in c.point.keep)
    out: dict[str, Any] = {
        "policy": {"thresholds": list(c.point.thresholds)},
        "hw": {
            "target_fps": round(fps, 3),
            "stage_rate_fractions": [round(t0 / t, 6) for t in c.targets],
            "cond_buffer_frames": int(c.depth),
            "keep_exits": keep,
            "load_shedding": str(LoadShedding.ENABLED if c.shedding else LoadShedding.DISABLED),
            "folding_overrides": overrides,
        },
    }
    period = (c.sim or {}).get("period_cycles")
    if c.shedding and period:  # simulated as the search judged it: at its service rate
        out["sim"] = {"arrival": "periodic", "period_cycles": int(period)}
    return out


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`base` with `over`'s keys set (sections merged one level deep)."""
    out = copy.deepcopy(base)
    for section, values in over.items():
        out.setdefault(section, {})
        out[section].update(copy.deepcopy(values))
    return out
