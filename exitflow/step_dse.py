"""The `dse` step: design-space exploration of a built run (exitflow.dse, docs/dse.md)."""

from __future__ import annotations

import logging

from exitflow.results import DseResult
from exitflow.run import Run
from exitflow.steps import STEPS

__all__ = ["dse", "step_dse"]

log = logging.getLogger(__name__)


def dse(run: Run) -> DseResult:
    """Write dse/report.{json,md} and, when a design meets the constraints, dse/overlay.yaml and
    dse/design.yaml (the config `exitflow build` builds it from)."""
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


step_dse = STEPS["dse"]
