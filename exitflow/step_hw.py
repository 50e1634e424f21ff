"""The `build` step: FINN build of every stage, head and exit-decision unit (hw.build)."""

from __future__ import annotations

import logging
from pathlib import Path

from exitflow.context import RunContext, StepUnavailable

log = logging.getLogger(__name__)


def step_build(ctx: RunContext) -> Path:
    """Build run_dir/build/ (hwdesc.json, report.json/.md, checkpoints) from export/ and the
    calibrated policy. Skipped when build/hwdesc.json exists, unless ctx.force or a start step."""
    out = ctx.run_dir / "build" / "hwdesc.json"
    hw = ctx.cfg.hw
    if out.is_file() and not ctx.force and hw.start_step is None:
        log.info("build: %s exists, skipped (--force rebuilds)", out)
        return out
    manifest = ctx.run_dir / "export" / "manifest.json"
    if not manifest.is_file():
        raise StepUnavailable(f"{manifest} is missing: run `exitflow export` first")
    from exitflow.hw.build import run_build  # imports FINN: only when the step runs

    tools = {"vivado": ctx.tools.vivado, "vitis_hls": ctx.tools.vitis_hls}
    report = run_build(ctx.run_dir, hw, tools, ctx.progress)
    if report.get("stopped"):
        log.warning("build: %s", report["stopped"])
    log.info("wrote %s and %s", out, ctx.run_dir / "build" / "report.md")
    return out
