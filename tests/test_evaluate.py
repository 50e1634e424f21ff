"""Evaluation report: oracle and overthinking by hand, report files, calibrate/evaluate steps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from exitflow.config import ProjectConfig
from exitflow.context import RunContext, StepUnavailable
from exitflow.core.outputs import Outputs, save_outputs
from exitflow.core.policies import PolicySpec, load_policy
from exitflow.quant.calibrate import policy_params, tradeoff_curve
from exitflow.quant.evaluate import best_within, evaluate, oracle, overthinking, write_report
from exitflow.step_eval import step_calibrate, step_evaluate

# Predicted class per exit (exits 0, 1, 2) for six samples, all labelled 0.
PREDS = [(0, 0, 0), (1, 0, 0), (0, 1, 1), (1, 1, 0), (1, 1, 1), (2, 0, 2)]


def _hand_outputs() -> Outputs:
    """One-hot logits of height 1, except sample 0 at exit 0 (height 9: a confident exit)."""
    logits = np.zeros((6, 3, 3), np.int64)
    for n, row in enumerate(PREDS):
        for e, c in enumerate(row):
            logits[n, e, c] = 1
    logits[0, 0, 0] = 9
    return Outputs(logits, np.zeros(6), np.full(3, 0.5), np.array([10, 30, 100]), 90)


def test_oracle_and_overthinking_by_hand() -> None:
    out = _hand_outputs()
    orc = oracle(out)
    # first right exit: s0 0, s1 1, s2 0, s3 2, s4 none -> 2 (wrong), s5 1
    assert orc["exit_counts"] == [2, 2, 2]
    assert orc["accuracy"] == pytest.approx(5 / 6)
    assert orc["mean_macs"] == pytest.approx((10 + 30 + 10 + 100 + 100 + 30) / 6)
    assert orc["speedup"] == pytest.approx(90 / (280 / 6))
    over = overthinking(out)
    # final exit wrong for s2, s4, s5; s2 (exit 0) and s5 (exit 1) were right earlier
    assert over == {
        "count": 2,
        "fraction": pytest.approx(2 / 6),
        "final_errors": 3,
        "fraction_of_final_errors": pytest.approx(2 / 3),
    }


def test_evaluate_by_hand() -> None:
    out = _hand_outputs()
    report = evaluate(out, PolicySpec("max_logit", (5, 5)))
    assert report["per_exit_accuracy"] == pytest.approx([2 / 6, 3 / 6, 3 / 6])
    assert report["final_accuracy"] == pytest.approx(0.5)
    cal = report["calibrated"]
    # only s0 is confident (9 >= 5) at exit 0; everyone else reaches the final exit
    assert cal["exit_counts"] == [1, 0, 5]
    assert cal["accuracy"] == pytest.approx(3 / 6)
    assert cal["mean_macs"] == pytest.approx((10 + 5 * 100) / 6)
    assert cal["exit_accuracy"] == [1.0, None, pytest.approx(2 / 5)]
    assert report["speedup"] == pytest.approx(90 / 85)
    assert report["mac_fraction"] == pytest.approx(85 / 90)
    assert report["accuracy_drop"] == pytest.approx(0.0)
    assert report["oracle_accuracy"] == pytest.approx(5 / 6)
    assert set(report["policies"]) == {
        "max_logit", "margin", "max_softmax", "entropy", "patience", "voting",
    }  # fmt: skip
    for curve in report["policies"].values():
        assert curve["thresholds_from"] == "this set"


def test_val_curves_are_reevaluated() -> None:
    out = _hand_outputs()
    curves = {"margin": tradeoff_curve(out, "margin", policy_params("margin", out))}
    report = evaluate(out, PolicySpec("margin", (1, 1)), curves)
    assert report["policies"]["margin"]["thresholds_from"] == "validation"
    got = [(p["accuracy"], p["mean_macs"]) for p in report["policies"]["margin"]["points"]]
    assert got == [(p["accuracy"], p["mean_macs"]) for p in curves["margin"]]
    points = [{"accuracy": 0.9, "mac_fraction": 0.6, "mean_macs": 6}, {"accuracy": 0.8,
              "mac_fraction": 0.2, "mean_macs": 2}]  # fmt: skip
    assert best_within(points, 0.5)["accuracy"] == 0.8 and best_within(points, 0.1) is None


def test_write_report_files(tmp_path) -> None:
    out = _hand_outputs()
    report = evaluate(out, PolicySpec("margin", (float("inf"), 1)))
    paths = write_report(report, tmp_path / "eval")
    names = sorted(p.name for p in paths)
    assert names == ["exits.png", "report.json", "report.md", "tradeoff.png"]

    def no_constants(name: str) -> None:
        raise AssertionError(f"report.json holds non-standard JSON {name}")

    data = json.loads((tmp_path / "eval" / "report.json").read_text(), parse_constant=no_constants)
    assert data["policy"]["thresholds"][0] == "inf"
    assert data["policy"]["integer_thresholds"] == [None, 1]
    md = (tmp_path / "eval" / "report.md").read_text()
    assert "| oracle | 0.8333 |" in md and "Overthinking: 2 samples" in md
    for png in ("tradeoff.png", "exits.png"):
        assert (tmp_path / "eval" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _run(tmp_path, **policy) -> RunContext:
    cfg = ProjectConfig()
    for key, value in policy.items():
        setattr(cfg.policy, key, value)
    return RunContext(cfg=cfg, run_dir=tmp_path / "run", data_root=tmp_path / "data")


def _split_outputs(seed: int, n: int) -> Outputs:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    logits = rng.normal(0, 8, (n, 3, 5))
    for e in range(3):
        logits[np.arange(n), e, labels] += rng.random(n) * 15 * (e + 1)
    return Outputs(
        np.round(logits).astype(np.int64), labels, np.full(3, 0.1), [100, 350, 1000], 960
    )


def test_steps_calibrate_then_evaluate(tmp_path) -> None:
    ctx = _run(tmp_path, max_accuracy_drop=0.01)
    with pytest.raises(StepUnavailable, match="run `exitflow train` first"):
        step_calibrate(ctx)
    save_outputs(_split_outputs(0, 400), ctx.run_dir / "eval" / "outputs_val.npz")
    save_outputs(_split_outputs(1, 300), ctx.run_dir / "eval" / "outputs_test.npz")
    with pytest.raises(StepUnavailable, match="run `exitflow calibrate` first"):
        step_evaluate(ctx)
    policy_path = step_calibrate(ctx).path
    data = json.loads(policy_path.read_text())
    assert data["kind"] == "margin" and data["calibrated"] and data["feasible"]
    assert data["val"]["accuracy"] >= data["final_accuracy"] - 0.01 - 1e-9
    assert len(data["curve"]) >= 2 and len(data["integer_thresholds"]) == 2
    spec = load_policy(policy_path)
    # outputs exist: skipped unless forced
    policy_path.write_text(policy_path.read_text().replace('"margin"', '"margin" ', 1))
    mtime = policy_path.stat().st_mtime_ns
    step_calibrate(ctx)
    assert policy_path.stat().st_mtime_ns == mtime
    ctx.force = True
    step_calibrate(ctx)
    assert load_policy(policy_path) == spec
    report_path = step_evaluate(ctx).path
    report = json.loads(report_path.read_text())
    assert report["kind"] == "margin" and report["num_samples"] == 300
    assert report["policies"]["voting"]["thresholds_from"] == "validation"
    assert report["policy"]["thresholds"] == data["thresholds"]
