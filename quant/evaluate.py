"""Test-set evaluation of a calibrated exit policy: per-exit accuracy, every policy's trade-off,
the oracle and overthinking (definitions in docs/policies.md), as report.json/.md and plots."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from exitflow.core.files import write_json, write_text
from exitflow.core.outputs import Outputs
from exitflow.core.policies import PolicySpec, apply_policy, policy_dict, predicted_class
from exitflow.quant.calibrate import curve_at, policy_params, summarise, tradeoff_curve
from exitflow.quant.config import PolicyKind

log = logging.getLogger(__name__)

BUDGETS = (0.3, 0.5, 0.7, 1.0)  # MAC fractions of the markdown's "best accuracy within" table


def oracle(outputs: Outputs) -> dict[str, Any]:
    """Exit at the first exit whose class is right, else the final exit: the bound of any policy."""
    preds = np.stack(
        [predicted_class(outputs.logits[:, e]) for e in range(outputs.num_exits)], axis=1
    )
    right = preds == outputs.labels[:, None]
    right[:, -1] = True  # nobody right: the final exit, whose class is then wrong
    exit_index = np.argmax(right, axis=1)
    pred = preds[np.arange(outputs.num_samples), exit_index]
    return summarise(exit_index, pred, outputs)


def overthinking(outputs: Outputs) -> dict[str, Any]:
    """Samples right at some earlier exit but wrong at the final one (SDN, ICML 2019)."""
    n = outputs.num_samples
    preds = np.stack(
        [predicted_class(outputs.logits[:, e]) for e in range(outputs.num_exits)], axis=1
    )
    right = preds == outputs.labels[:, None]
    final_wrong = ~right[:, -1]
    count = int((right[:, :-1].any(axis=1) & final_wrong).sum())
    errors = int(final_wrong.sum())
    return {
        "count": count,
        "fraction": count / n if n else 0.0,
        "final_errors": errors,
        "fraction_of_final_errors": count / errors if errors else 0.0,
    }


def _policy_curves(outputs: Outputs, spec: PolicySpec, curves: dict | None) -> dict[str, dict]:
    """Every kind's curve on these outputs: val thresholds re-evaluated, or fitted here if none."""
    result = {}
    for kind in PolicyKind:
        # the policy's own params carry e.g. the configured voting exponent
        params = spec.params if kind.value == spec.kind else policy_params(kind, outputs)
        val_points = (curves or {}).get(kind.value)
        if val_points:
            points = [curve_at(outputs, kind, params, p["thresholds"]) for p in val_points]
            result[kind.value] = {"thresholds_from": "validation", "points": points}
        else:
            points = tradeoff_curve(outputs, kind, params)
            result[kind.value] = {"thresholds_from": "this set", "points": points}
    return result


def evaluate(outputs: Outputs, spec: PolicySpec, curves: dict | None = None) -> dict[str, Any]:
    """The evaluation report of `spec` on (test) outputs.

    curves: {kind: [curve points with "thresholds"]} from validation (calibrate.tradeoff_curve);
    each point's thresholds are re-evaluated here. Kinds without one get a curve fitted on these
    outputs, marked thresholds_from = "this set".
    """
    if outputs.num_samples == 0:
        raise ValueError("evaluation needs samples, the outputs file holds none")
    n, num_exits = outputs.num_samples, outputs.num_exits
    per_exit = [
        float((predicted_class(outputs.logits[:, e]) == outputs.labels).mean())
        for e in range(num_exits)
    ]
    exit_index, pred = apply_policy(outputs.logits, spec)
    policy = summarise(exit_index, pred, outputs)
    ok = pred == outputs.labels
    policy["exit_accuracy"] = [
        float(ok[exit_index == e].mean()) if (exit_index == e).any() else None
        for e in range(num_exits)
    ]
    orc, over = oracle(outputs), overthinking(outputs)
    final = per_exit[-1]
    return {
        # headline scalars first: the run summary (exitflow report) lists them
        "kind": spec.kind,
        "num_samples": n,
        "final_accuracy": final,
        "accuracy": policy["accuracy"],
        "accuracy_drop": final - policy["accuracy"],
        "mac_fraction": policy["mac_fraction"],
        "speedup": policy["speedup"],
        "oracle_accuracy": orc["accuracy"],
        "oracle_speedup": orc["speedup"],
        "overthinking_fraction": over["fraction"],
        "num_exits": num_exits,
        "num_classes": outputs.num_classes,
        "full_macs": outputs.full_macs,
        "exit_macs": outputs.exit_macs.tolist(),
        "per_exit_accuracy": per_exit,
        "policy": policy_dict(spec),
        "calibrated": policy,
        "oracle": orc,
        "overthinking": over,
        "policies": _policy_curves(outputs, spec, curves),
    }


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def best_within(points: list[dict], budget: float) -> dict | None:
    """The most accurate curve point with mac_fraction <= budget (fewest MACs among equals)."""
    fit = [p for p in points if p["mac_fraction"] <= budget + 1e-12]
    return max(fit, key=lambda p: (p["accuracy"], -p["mean_macs"])) if fit else None


def report_markdown(report: dict[str, Any]) -> str:
    """The report as markdown summary tables."""
    r, cal, orc, over = report, report["calibrated"], report["oracle"], report["overthinking"]
    md = [
        "# Exit policy evaluation",
        "",
        f"{r['num_samples']} samples, {r['num_exits']} exits, {r['num_classes']} classes; "
        f"policy `{r['kind']}`, thresholds {r['policy']['thresholds']} "
        f"(integer {r['policy']['integer_thresholds']}, fires when {r['policy']['fires_when']}).",
        "",
        "| | accuracy | mean MACs | MAC fraction | speed-up |",
        "|---|---|---|---|---|",
        f"| final exit only | {_fmt(r['final_accuracy'])} | {r['full_macs']} | 1.0000 | 1.00x |",
    ]
    for name, s in (("calibrated policy", cal), ("oracle", orc)):
        md.append(
            f"| {name} | {_fmt(s['accuracy'])} | {s['mean_macs']:.0f} | "
            f"{_fmt(s['mac_fraction'])} | {s['speedup']:.2f}x |"
        )
    md += [
        "",
        "## Exits",
        "",
        "| exit | MACs to reach | accuracy alone | leaves here (policy) | accuracy of those "
        "| leaves here (oracle) |",
        "|---|---|---|---|---|---|",
    ]
    for e in range(r["num_exits"]):
        md.append(
            f"| {e} | {r['exit_macs'][e]} | {_fmt(r['per_exit_accuracy'][e])} | "
            f"{_fmt(cal['exit_fractions'][e], 3)} | {_fmt(cal['exit_accuracy'][e])} | "
            f"{_fmt(orc['exit_fractions'][e], 3)} |"
        )
    md += [
        "",
        f"Overthinking: {over['count']} samples ({_fmt(over['fraction'])}) are right at an "
        f"earlier exit but wrong at the final one: {_fmt(over['fraction_of_final_errors'])} of "
        f"the final exit's {over['final_errors']} errors.",
        "",
        "## Best accuracy within a MAC budget (every policy, thresholds from "
        "validation where available)",
        "",
        "| policy | " + " | ".join(f"<= {b:.0%} MACs" for b in BUDGETS) + " |",
        "|---|" + "---|" * len(BUDGETS),
    ]
    for kind, curve in r["policies"].items():
        cells = []
        for b in BUDGETS:
            p = best_within(curve["points"], b)
            cells.append("-" if p is None else f"{p['accuracy']:.4f} ({p['mac_fraction']:.2f})")
        md.append(f"| {kind} | " + " | ".join(cells) + " |")
    md += ["", "![trade-off](tradeoff.png)", "", "![exits](exits.png)", ""]
    return "\n".join(md)


def write_report(report: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write report.json, report.md, tradeoff.png and exits.png into out_dir (atomically)."""
    from exitflow.quant import plots  # matplotlib only when plots are written

    out_dir = Path(out_dir)
    return [
        write_json(out_dir / "report.json", report),
        write_text(out_dir / "report.md", report_markdown(report)),
        plots.plot_tradeoff(report, out_dir / "tradeoff.png"),
        plots.plot_exits(report, out_dir / "exits.png"),
    ]
