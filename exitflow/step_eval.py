"""The `calibrate` and `evaluate` steps: integer exit thresholds on validation, report on test.

The functions here do the work; exitflow.runner decides whether they run. `step_calibrate` and
`step_evaluate` are the runnable Steps.
"""

from __future__ import annotations

import logging

from exitflow.core.errors import DataError
from exitflow.core.outputs import load_outputs
from exitflow.core.policies import load_policy, save_policy
from exitflow.quant.calibrate import calibrate, policy_params, tradeoff_curve
from exitflow.quant.config import PolicyKind
from exitflow.quant.evaluate import evaluate, write_report
from exitflow.results import CalibrateResult, EvaluateResult
from exitflow.run import Run
from exitflow.steps import STEPS

__all__ = ["calibrate_step", "evaluate_step", "step_calibrate", "step_evaluate"]

log = logging.getLogger(__name__)


def calibrate_step(run: Run) -> CalibrateResult:
    """Calibrate cfg.policy on eval/outputs_val.npz; write calibrate/policy.json."""
    lay = run.layout
    spec, info = calibrate(load_outputs(lay.outputs_val), run.cfg.policy)
    # kind and thresholds are the policy's own keys in the file
    extra = {k: v for k, v in info.items() if k not in ("kind", "thresholds")}
    save_policy(spec, lay.policy, extra)
    log.info("wrote %s", lay.policy)
    return CalibrateResult(lay.policy, str(spec.kind), [str(t) for t in spec.thresholds])


def evaluate_step(run: Run) -> EvaluateResult:
    """Evaluate the calibrated policy on eval/outputs_test.npz; write eval/report.* and plots."""
    lay = run.layout
    test = load_outputs(lay.outputs_test)
    spec = load_policy(lay.policy)
    if spec.num_exits != test.num_exits:
        raise DataError(
            f"{lay.policy} is for {spec.num_exits} exits but the test outputs have "
            f"{test.num_exits}: rerun `exitflow calibrate --force` after retraining"
        )
    report = evaluate(test, spec, _val_curves(run))
    write_report(report, lay.eval_dir)
    log.info(
        "test: final exit accuracy %.4f, %s policy accuracy %.4f at %.3f of full MACs "
        "(speed-up %.2fx); oracle %.4f at %.2fx",
        report["final_accuracy"],
        report["kind"],
        report["accuracy"],
        report["mac_fraction"],
        report["speedup"],
        report["oracle_accuracy"],
        report["oracle_speedup"],
    )
    return EvaluateResult(
        lay.eval_report,
        float(report["final_accuracy"]),
        float(report["accuracy"]),
        float(report["mac_fraction"]),
        float(report["speedup"]),
    )


def _val_curves(run: Run) -> dict[str, list[dict]] | None:
    """Every policy kind's trade-off thresholds fitted on validation (None without val outputs)."""
    path = run.layout.outputs_val
    if not path.is_file():
        log.warning("no %s: policy curves are fitted on the test set itself", path)
        return None
    val = load_outputs(path)
    return {
        kind.value: tradeoff_curve(val, kind, policy_params(kind, val, run.cfg.policy))
        for kind in PolicyKind
    }


step_calibrate = STEPS["calibrate"]
step_evaluate = STEPS["evaluate"]
