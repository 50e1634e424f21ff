"""The `simulate` step: the built design, cycle by cycle, on the exported test set."""

from __future__ import annotations

import logging
from pathlib import Path

from exitflow.context import RunContext
from exitflow.core.outputs import load_outputs
from exitflow.core.policies import load_policy
from exitflow.sim.decisions import reconcile, spec_from_hwdesc
from exitflow.sim.hwdesc import load_hwdesc
from exitflow.sim.pipeline import log_headline, run_simulation

log = logging.getLogger(__name__)

OUTPUTS = ("report.json", "report.md", "frames.npz")


def step_simulate(ctx: RunContext) -> Path:
    """Write run_dir/sim/{report.json, report.md, frames.npz, occupancy.png}; raise on mismatch.

    Inputs: build/hwdesc.json, export/reference.npz and (if present) calibrate/policy.json, whose
    policy must equal the one the decision units were built with.
    """
    out = ctx.run_dir / "sim"
    if not ctx.force and all((out / name).is_file() for name in OUTPUTS):
        log.info("simulate: %s exists, skipping (--force to redo)", out / "report.json")
        return out / "report.json"
    desc = load_hwdesc(ctx.run_dir / "build" / "hwdesc.json")
    reference = load_outputs(ctx.run_dir / "export" / "reference.npz")
    policy_path = ctx.run_dir / "calibrate" / "policy.json"
    calibrated = load_policy(policy_path) if policy_path.is_file() else None
    spec = reconcile(spec_from_hwdesc(desc), calibrated, desc.source)
    outcome = run_simulation(desc, reference, spec, ctx.cfg.sim, out, ctx.progress)
    log_headline(outcome.report)
    log.info("wrote %s", ", ".join(str(p) for p in outcome.files))
    return out / "report.json"
