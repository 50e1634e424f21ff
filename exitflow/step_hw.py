"""The `build` step: FINN build of every stage, head and exit-decision unit (hw.build)."""

from __future__ import annotations

import logging

from exitflow.core.errors import BudgetError
from exitflow.results import BuildResult
from exitflow.run import Run
from exitflow.steps import STEPS

__all__ = ["build", "step_build"]

log = logging.getLogger(__name__)


def build(run: Run) -> BuildResult:
    """Build build/ (hwdesc.json, report.json/.md, checkpoints) from export/ and the calibrated
    policy. Without Vivado/Vitis HLS the build stops after code generation (logged, not an error).
    A design over the board's budget is a BudgetError after the reports are written (they stay
    for inspection), unless hw.allow_over_budget."""
    from exitflow.hw.build import run_build  # imports FINN: only when the step runs

    lay, hw = run.layout, run.cfg.hw
    tools = {"vivado": run.tools.vivado, "vitis_hls": run.tools.vitis_hls}
    extra = {}
    if getattr(getattr(run.cfg, "flow", None), "dse", False):
        from exitflow.step_explore import explore_dir

        extra["reuse_from"] = explore_dir(lay)  # the search's build of the same partitions
    report = run_build(run.run_dir, hw, tools, run.progress, **extra)
    if report.get("stopped"):
        log.warning("build: %s", report["stopped"])
    log.info("wrote %s and %s", lay.build_report, lay.build_report_md)
    over = dict(report.get("over_budget", {}))
    if over and not getattr(hw, "allow_over_budget", False):
        raise BudgetError(
            f"the gated design needs more than {report['board']} has (utilisation {over}; "
            f"see {lay.build_report_md}): lower hw.target_fps, change hw.mvau_style or "
            "hw.board, or set hw.allow_over_budget: true to keep it anyway"
        )
    return BuildResult(
        lay.build_report, lay.hwdesc if lay.hwdesc.is_file() else None, report.get("stopped"), over
    )


step_build = STEPS["build"]
