"""The `dse` step: design-space exploration of a built run (exitflow.dse, docs/dse.md)."""

from __future__ import annotations

import logging

from exitflow.core.errors import ConfigError
from exitflow.results import DseResult
from exitflow.run import Run
from exitflow.steps import STEPS

__all__ = ["check_not_explored", "dse", "step_dse"]

log = logging.getLogger(__name__)


def dse(run: Run) -> DseResult:
    """Write dse/report.{json,md} and, when a design meets the constraints, dse/overlay.yaml and
    dse/design.yaml (the config `exitflow build` builds it from). Refused on a flow.dse run
    unless --force (`check_not_explored`)."""
    check_not_explored(run)
    from exitflow.dse.run import run_dse  # imports FINN in the workers only when it runs

    lay = run.layout
    result = run_dse(run.run_dir, run.cfg)
    st = result.report["stats"]
    return DseResult(
        lay.dse_report,
        lay.dse_design if result.chosen is not None else None,
        int(st["candidates"]),
        int(st["simulated_designs"]),
        float(st["minutes"]),
    )


def check_not_explored(run: Run) -> None:
    """ConfigError when the run's config sets flow.dse and --force is not given: its dse/ is the
    explore step's search of the configured design (cache/explore/), whose choice the run then
    built; searching the finished build instead (a design that may already leave exits out,
    folded for the chosen rates) would replace that choice with a different one and make the
    next `exitflow run` rebuild it."""
    if not getattr(getattr(run.cfg, "flow", None), "dse", False) or run.force:
        return
    raise ConfigError(
        "flow.dse is set: this run's dse/ comes from the explore step (the search of the "
        "configured design in cache/explore/), and `exitflow dse` would search the finished "
        "build instead and replace its choice. Search again with `exitflow explore` (or "
        "`exitflow run`, which explores first), or pass --force to search the built design "
        "anyway (the next `exitflow run` then builds what that search chose)"
    )


step_dse = STEPS["dse"]
