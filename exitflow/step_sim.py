"""The `simulate` step: the built design, cycle by cycle, on the exported test set."""

from __future__ import annotations

import logging

from exitflow.core.outputs import load_outputs
from exitflow.core.policies import load_policy
from exitflow.results import SimulateResult
from exitflow.run import Run
from exitflow.sim.decisions import hardware_view, reconcile, spec_from_hwdesc
from exitflow.sim.hwdesc import load_hwdesc
from exitflow.sim.pipeline import log_headline, run_simulation
from exitflow.steps import STEPS

__all__ = ["simulate", "step_simulate"]

log = logging.getLogger(__name__)


def simulate(run: Run) -> SimulateResult:
    """Write sim/{report.json, report.md, frames.npz, occupancy.png}; raise on an exit mismatch.

    Inputs: build/hwdesc.json, export/reference.npz and (if present) calibrate/policy.json, whose
    policy must equal the one the decision units were built with. A design built without some
    exits (hw.keep_exits) is checked in its own exit numbering: both are mapped through
    hwdesc's policy.trained_exits (exitflow.sim.decisions.hardware_view).
    """
    lay = run.layout
    desc = load_hwdesc(lay.hwdesc)
    reference = load_outputs(lay.reference)
    calibrated = load_policy(lay.policy) if lay.policy.is_file() else None
    reference, calibrated = hardware_view(desc, reference, calibrated)
    spec = reconcile(spec_from_hwdesc(desc), calibrated, desc.source)
    outcome = run_simulation(
        desc, reference, spec, run.cfg.sim, lay.sim_dir, run.progress,
        load_shedding=str(run.cfg.hw.load_shedding),
    )  # fmt: skip
    log_headline(outcome.report)
    log.info("wrote %s", ", ".join(str(p) for p in outcome.files))
    rep = outcome.report
    return SimulateResult(
        lay.sim_report, int(rep.get("frames", 0)), int(rep.get("exit_mismatches", 0))
    )


step_simulate = STEPS["simulate"]
