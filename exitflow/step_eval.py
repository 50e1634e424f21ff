"""The `calibrate` and `evaluate` steps: integer exit thresholds on validation, report on test."""

from __future__ import annotations

import logging
from pathlib import Path

from exitflow.context import RunContext, StepUnavailable
from exitflow.core.outputs import Outputs, load_outputs
from exitflow.core.policies import load_policy, save_policy
from exitflow.quant.calibrate import calibrate, policy_params, tradeoff_curve
from exitflow.quant.config import PolicyKind
from exitflow.quant.evaluate import evaluate, write_report

log = logging.getLogger(__name__)

REPORT_FILES = ("report.json", "report.md", "tradeoff.png", "exits.png")


def _outputs(ctx: RunContext, split: str) -> Outputs:
    path = ctx.run_dir / "eval" / f"outputs_{split}.npz"
    if not path.is_file():
        raise StepUnavailable(f"{path} is missing: run `exitflow train` first")
    return load_outputs(path)


def step_calibrate(ctx: RunContext) -> Path:
    """Calibrate ctx.cfg.policy on validation outputs; write run_dir/calibrate/policy.json."""
    out = ctx.run_dir / "calibrate" / "policy.json"
    if out.is_file() and not ctx.force:
        log.info("calibrate: %s exists, skipped (--force redoes it)", out)
        return out
    spec, info = calibrate(_outputs(ctx, "val"), ctx.cfg.policy)
    # kind and thresholds are the policy's own keys in the file
    extra = {k: v for k, v in info.items() if k not in ("kind", "thresholds")}
    save_policy(spec, out, extra)
    log.info("wrote %s", out)
    return out


def step_evaluate(ctx: RunContext) -> Path:
    """Evaluate the calibrated policy on test outputs; write run_dir/eval/report.* and plots."""
    out_dir = ctx.run_dir / "eval"
    if all((out_dir / name).is_file() for name in REPORT_FILES) and not ctx.force:
        log.info("evaluate: %s exists, skipped (--force redoes it)", out_dir / "report.json")
        return out_dir / "report.json"
    test = _outputs(ctx, "test")
    policy_path = ctx.run_dir / "calibrate" / "policy.json"
    if not policy_path.is_file():
        raise StepUnavailable(f"{policy_path} is missing: run `exitflow calibrate` first")
    spec = load_policy(policy_path)
    if spec.num_exits != test.num_exits:
        raise ValueError(
            f"{policy_path} is for {spec.num_exits} exits but the test outputs have "
            f"{test.num_exits}: rerun `exitflow calibrate --force` after retraining"
        )
    report = evaluate(test, spec, _val_curves(ctx))
    write_report(report, out_dir)
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
    return out_dir / "report.json"


def _val_curves(ctx: RunContext) -> dict[str, list[dict]] | None:
    """Every policy kind's trade-off thresholds fitted on validation (None without val outputs)."""
    path = ctx.run_dir / "eval" / "outputs_val.npz"
    if not path.is_file():
        log.warning("no %s: policy curves are fitted on the test set itself", path)
        return None
    val = load_outputs(path)
    return {
        kind.value: tradeoff_curve(val, kind, policy_params(kind, val, ctx.cfg.policy))
        for kind in PolicyKind
    }
