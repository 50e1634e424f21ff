"""The co-design headline: the chosen design against the single-exit baseline, on the test set.

The search ranks on validation frames; these figures are the final ones, on the test set:

- `throughput_gain`: the chosen design's simulated throughput on the test exits over the
  baseline's at the chosen design's own resource fraction (resource fraction: the largest of
  LUT, FF, BRAM_18K, URAM, DSP used over available, every block counted). FINN's folding is
  discrete, so no baseline has exactly that fraction: the baseline's throughput there is its
  most efficient design within the budget (highest frames/s per fraction) scaled linearly to
  it, the baseline's best case. `gain_vs_best_baseline_in_budget` is the plain ratio to the
  fastest baseline that fits the budget, whatever fraction it uses.
- `accuracy_drop_points`: the final exit's test accuracy minus the chosen design's (forced
  frames, with shedding, scored at the exit they left at), in points. A shedding design is
  run with frames arriving at the rate the search chose for it (exitflow.dse.evaluate's
  service ladder), not saturated.
- `resource_fraction_at_equal_throughput`: the least resource fraction of a gated design whose
  test-set throughput reaches the baseline's (the fastest that fits the budget), over that
  baseline's fraction.
- `fraction_of_bound`: `throughput_gain` over 1 / sum_k f_k P_k (f_k: MACs of segment k, its
  stages and its own head, over the baseline's; P_k: the test frames reaching it).
- Adversarial load (every frame continuing by policy): the no-exit stream's throughput (with
  shedding where the design sheds) over the baseline's, and the test accuracy kept then.

A budget in which no baseline fits gives no comparison (`refused`), never a gain.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from exitflow.core.hwdesc_load import hwdesc_from_dict
from exitflow.core.outputs import Outputs
from exitflow.dse.candidates import Candidate, remap
from exitflow.dse.compare import BaselinePoint, best_baseline
from exitflow.dse.evaluate import BoundError, evaluate_design
from exitflow.dse.space import point_on

__all__ = ["headline"]

log = logging.getLogger(__name__)

MATCH_TRIES = 8  # cheapest designs matching the baseline on validation, checked on the test set


def _test_run(c: Candidate, inp: Any, test: Outputs, timing: Any) -> dict[str, Any]:
    """The design on the test set: policy exits, simulated throughput and exits, accuracy."""
    n_exits = len(inp.topo.exit_after)
    tp = point_on(test, inp.kind, inp.params, c.point.keep, list(c.point.thresholds))
    ex = remap(tp.exit_index, c.point.keep, n_exits)
    desc = hwdesc_from_dict(c.desc or {}, "the chosen design")
    # a shedding design serves at the arrival rate the search chose for it (its service ladder)
    period = (c.sim or {}).get("period_cycles") if c.shedding else None
    r = evaluate_design(desc, ex, shedding=c.shedding, timing=timing, period_cycles=period)
    sim_ex = np.asarray(r.pop("exit_index", ex), np.int64)
    kept = np.asarray([*c.point.keep, n_exits - 1])
    rows = np.arange(len(sim_ex))
    right = np.argmax(test.logits[rows, kept[sim_ex]], axis=1) == test.labels
    r.update(accuracy=float(np.mean(right)), policy_accuracy=tp.accuracy, exits=sim_ex)
    return r


def _adversarial(c: Candidate, inp: Any, test: Outputs, timing: Any) -> dict[str, Any]:
    """The no-exit stream over the test images: throughput and the accuracy kept."""
    n_exits = len(inp.topo.exit_after)
    kept = np.asarray([*c.point.keep, n_exits - 1])
    n = len(test.labels)
    desc = hwdesc_from_dict(c.desc or {}, "the chosen design")
    r = evaluate_design(desc, np.full(n, len(kept) - 1, np.int64), c.shedding, timing)
    ex = np.asarray(r.get("exit_index", np.full(n, len(kept) - 1)), np.int64)
    right = np.argmax(test.logits[np.arange(n), kept[ex]], axis=1) == test.labels
    return {
        "fps": float(r["no_exit_fps_shedding"]) if c.shedding else float(r["no_exit_fps"]),
        "fps_without_shedding": float(r["no_exit_fps"]),
        "accuracy": float(np.mean(right)),
        "forced": int(r.get("forced", 0)),
        "frames": n,
    }


def headline(
    chosen: Candidate | None,
    designs: list[Candidate],
    baselines: list[BaselinePoint],
    inp: Any,
    budget: float,
    test: Outputs,
    timing: Any = None,
    timing_note: str = "FINN's analytical cycles",
) -> dict[str, Any]:
    """The headline figures of the chosen design (module docstring); `timing` is the measured
    partition timing the simulator uses, when it applies to the chosen design."""
    if chosen is None:
        return {"refused": "no design meets the constraints"}
    bb = best_baseline(baselines, budget)
    if bb is None:
        return {"refused": f"no single-exit baseline fits {budget:.0%} of the board"}
    fit = [p for p in baselines if p.fraction <= budget + 1e-12]
    eff = max(fit, key=lambda p: p.fps / p.fraction)
    equal = eff.fps * chosen.fraction / eff.fraction
    run = _test_run(chosen, inp, test, timing)
    final_acc = float(np.mean(test.logits[:, -1].argmax(-1) == test.labels))
    ex = run.pop("exits")
    reach = [float(np.mean(ex >= k)) for k in range(len(chosen.point.keep) + 1)]
    bound = inp.topo.bound(chosen.point.keep, reach)
    gain = run["fps"] / equal
    if gain > bound * (1 + 1e-9):
        raise BoundError(
            f"the chosen design's test-set gain at equal resources {gain:.3f} exceeds the "
            f"physical bound {bound:.3f} (1/sum f_k P_k): a bug in the estimates or the search"
        )
    least = _least_matching(designs, bb, inp, test)
    adv = _adversarial(chosen, inp, test, timing)
    out = {
        "budget": budget,
        "timing": timing_note,
        "test_frames": len(test.labels),
        "gated": {
            "fps": run["fps"],
            "resource_fraction": chosen.fraction,
            "binding_resource": chosen.binding,
            "accuracy": run["accuracy"],
            "load_shedding": chosen.shedding,
            "forced_frames": int(run.get("forced", 0)),
            "latency_p99_us": run["latency_p99_us"],
            "partitions": {
                p["name"]: {"cycles_per_frame": p["cycles_per_frame"], **p["resources"]}
                for p in (chosen.desc or {})["partitions"]
            },
        },
        "baseline": {**bb.to_dict(), "accuracy": final_acc},
        "baseline_at_equal_fraction": {"fps": equal, "scaled_from": eff.to_dict()},
        "throughput_gain": gain,
        "gain_vs_best_baseline_in_budget": run["fps"] / bb.fps,
        "accuracy_drop_points": 100.0 * (final_acc - run["accuracy"]),
        "bound": bound,
        "fraction_of_bound": gain / bound,
        "reach": reach,
        "resource_fraction_at_equal_throughput": least,
        "adversarial": adv,
        "noexit_fps_over_baseline": adv["fps"] / bb.fps,
        "adversarial_accuracy": adv["accuracy"],
    }
    log.info(
        "headline (test set): %.0f frames/s at fraction %.3f, gain %.2f at equal resources "
        "(%.0f%% of the bound %.2f), accuracy drop %.2f points; no-exit %.2f x the baseline",
        run["fps"], chosen.fraction, gain, 100 * gain / bound, bound,
        out["accuracy_drop_points"], out["noexit_fps_over_baseline"],
    )  # fmt: skip
    return out


def _least_matching(
    designs: list[Candidate], bb: BaselinePoint, inp: Any, test: Outputs
) -> dict[str, Any] | None:
    """The cheapest design on the board whose test-set throughput (FINN's cycles) reaches the
    baseline's (the cheapest `MATCH_TRIES` that do on validation are checked, by fraction)."""
    ok = (c for c in designs if c.fps >= bb.fps and c.fraction <= 1.0)
    for c in sorted(ok, key=lambda c: (c.fraction, -c.fps))[:MATCH_TRIES]:
        run = _test_run(c, inp, test, None)
        if run["fps"] >= bb.fps:
            return {
                "ratio": c.fraction / bb.fraction,
                "resource_fraction": c.fraction,
                "fps": run["fps"],
                "accuracy": run["accuracy"],
                "keep": list(c.point.keep),
                "load_shedding": c.shedding,
            }
    return None
