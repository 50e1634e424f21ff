"""Per-exit integer thresholds calibrated on validation outputs, and accuracy/MAC trade-off curves.

Every policy's decision at exit e is "statistic S_e compares with T_e" and S_e does not depend on
earlier decisions (quant.policies), so the search works on the [N, E] matrix of statistics,
sign-flipped so that an exit fires when its value is >= a cut. Candidate cuts at an exit are the
distinct values the reaching samples take there, plus "never": a sweep over one exit with the
others fixed is exact and costs one pass over the samples sorted by that exit's statistic.

Search, optimising the target on the validation set:
- accuracy_drop: least mean MACs with accuracy >= final-exit accuracy - max_accuracy_drop;
- mac_budget: best accuracy with mean MACs <= mac_budget * full_macs.
1. Grid: every combination of the earlier exits' cuts (all distinct values when the combinations
   fit GRID_BUDGET, else evenly spaced quantiles) with the last non-final exit swept exactly.
   With two non-final exits (three exits) and <= GRID_BUDGET distinct values this is exhaustive.
2. Coordinate descent under the target from the grid's best, and from the solutions of the
   Lagrangian mean_macs / full_macs - lam * accuracy over a grid of lam: keeps the best.
If no thresholds meet the target, the closest are returned (accuracy_drop: most accurate;
mac_budget: cheapest) and the result says feasible = false.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from exitflow.core.outputs import Outputs
from exitflow.core.policies import (
    PolicySpec,
    apply_policy,
    exit_statistics,
    never_threshold,
    predicted_class,
    threshold_for,
    threshold_from_json,
    threshold_to_json,
)
from exitflow.core.rules import rule
from exitflow.quant.config import CalibrationTarget, PolicyConfig, PolicyKind

log = logging.getLogger(__name__)

NEVER = np.iinfo(np.int64).max  # a cut no statistic reaches (statistics stay within +-2^61)
GRID_BUDGET = 1024  # threshold combinations tried before the exact sweep of the last exit
LAMBDAS = np.concatenate([[0.0], np.geomspace(1e-2, 1e2, 13)])


def policy_params(
    kind: str | PolicyKind, outputs: Outputs, cfg: PolicyConfig | None = None
) -> dict:
    """The params a policy needs for these outputs (lookup-table settings, voting exponent)."""
    cfg = cfg or PolicyConfig()
    return rule(kind).default_params(outputs.logit_scale, cfg.patience, cfg.voting_k)


def summarise(exit_index: np.ndarray, pred: np.ndarray, outputs: Outputs) -> dict[str, Any]:
    """Accuracy, MACs, speed-up and exit distribution of per-sample exits and classes."""
    n, num_exits = outputs.num_samples, outputs.num_exits
    macs = outputs.exit_macs[exit_index].astype(np.float64)
    mean_macs = float(macs.mean()) if n else 0.0
    counts = np.bincount(exit_index, minlength=num_exits)
    return {
        "accuracy": float((pred == outputs.labels).mean()) if n else 0.0,
        "mean_macs": mean_macs,
        "mac_fraction": mean_macs / outputs.full_macs if outputs.full_macs else 0.0,
        "speedup": outputs.full_macs / mean_macs if mean_macs else 0.0,
        "exit_counts": counts.tolist(),
        "exit_fractions": (counts / max(n, 1)).tolist(),
    }


@dataclass
class _Problem:
    """Sign-normalised statistics, per-exit correctness and costs of one policy kind."""

    conf: np.ndarray  # int64 [N, E]: exit e fires iff conf[n, e] >= cut_e
    correct: np.ndarray  # bool [N, E]: the class exit e would output is right
    macs: np.ndarray  # int64 [E]
    order: list[np.ndarray]  # per non-final exit: sample indices sorted by conf, descending

    @classmethod
    def build(cls, outputs: Outputs, kind: str, params: dict) -> _Problem:
        stats, preds = exit_statistics(outputs.logits, kind, params)
        conf = -stats if rule(kind).low_fires else stats
        order = [np.argsort(-conf[:, e], kind="stable") for e in range(conf.shape[1] - 1)]
        return cls(conf, preds == outputs.labels[:, None], outputs.exit_macs, order)

    def exits(self, cuts: np.ndarray) -> np.ndarray:
        """First exit that fires for each sample under per-exit cuts."""
        fire = np.ones(self.conf.shape, dtype=bool)
        fire[:, :-1] = self.conf[:, :-1] >= cuts[None, :]
        return np.argmax(fire, axis=1)

    def score(self, cuts: np.ndarray) -> tuple[int, int]:
        """(correct count, total MACs) under per-exit cuts."""
        ex = self.exits(cuts)
        n = np.arange(len(ex))
        return int(self.correct[n, ex].sum()), int(self.macs[ex].sum())

    def sweep(self, cuts: np.ndarray, e: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(candidate cuts, correct counts, total MACs) for every cut of exit e, others fixed."""
        fire = np.ones(self.conf.shape, dtype=bool)
        fire[:, :-1] = self.conf[:, :-1] >= cuts[None, :]
        reach = cast(np.ndarray, ~fire[:, :e].any(axis=1))  # an array for a 2-D fire
        before = np.argmax(fire[:, :e], axis=1) if e else np.zeros(len(reach), np.int64)
        after = e + 1 + np.argmax(fire[:, e + 1 :], axis=1)  # the last exit always fires
        idx = np.arange(len(reach))
        base_ok = int(self.correct[idx[~reach], before[~reach]].sum())
        base_macs = int(self.macs[before[~reach]].sum())
        rest_ok = self.correct[idx, after].astype(np.int64)
        rest_macs = self.macs[after]
        order = self.order[e][reach[self.order[e]]]
        values = self.conf[order, e]
        gain_ok = np.cumsum(self.correct[order, e].astype(np.int64) - rest_ok[order])
        gain_macs = np.cumsum(self.macs[e] - rest_macs[order])
        # a cut at value v fires every reaching sample with conf >= v: the end of v's run
        ends = np.flatnonzero(np.r_[values[1:] != values[:-1], True]) if len(values) else values[:0]
        cand = np.r_[NEVER, values[ends]].astype(np.int64)
        total_ok = base_ok + int(rest_ok[order].sum()) + np.r_[0, gain_ok[ends]]
        total_macs = base_macs + int(rest_macs[order].sum()) + np.r_[0, gain_macs[ends]]
        return cand, total_ok.astype(np.int64), total_macs.astype(np.int64)


def _descend(problem: _Problem, cuts: np.ndarray, pick, rounds: int = 6) -> np.ndarray:
    """Coordinate descent: at each exit take the candidate `pick` prefers, until nothing changes."""
    cuts = cuts.copy()
    for _ in range(rounds):
        changed = False
        for e in range(len(cuts)):
            cand, ok, macs = problem.sweep(cuts, e)
            best = pick(ok, macs)
            here = np.flatnonzero(cand == cuts[e])
            # move only on a strict improvement (pick keeps the first of equals): no cycling
            if cand[best] != cuts[e] and (
                not here.size or pick(ok[[here[0], best]], macs[[here[0], best]]) == 1
            ):
                cuts[e], changed = cand[best], True
        if not changed:
            break
    return cuts


def _target(target: CalibrationTarget, n: int, full: int, cfg: PolicyConfig, final_ok: int):
    """(pick, feasible): pick chooses the best candidate, feasible ones first; when none is
    feasible it chooses the closest (accuracy_drop: most correct; mac_budget: fewest MACs)."""
    if target == CalibrationTarget.ACCURACY_DROP:
        need = final_ok - cfg.max_accuracy_drop * n - 1e-9

        def feasible(ok: np.ndarray, macs: np.ndarray) -> np.ndarray:
            return np.asarray(ok) >= need

        def keys(ok: np.ndarray, macs: np.ndarray, bad: np.ndarray) -> tuple:
            # feasible: fewest MACs, then most correct; infeasible: most correct, then fewest MACs
            return np.where(bad, macs, -ok), np.where(bad, -ok, macs)
    else:
        limit = cfg.mac_budget * full * n * (1 + 1e-12)

        def feasible(ok: np.ndarray, macs: np.ndarray) -> np.ndarray:
            return np.asarray(macs) <= limit

        def keys(ok: np.ndarray, macs: np.ndarray, bad: np.ndarray) -> tuple:
            return np.where(bad, -ok, macs), np.where(bad, macs, -ok)

    def pick(ok: np.ndarray, macs: np.ndarray) -> int:
        ok, macs = np.asarray(ok, np.int64), np.asarray(macs, np.int64)
        bad = ~feasible(ok, macs)
        minor, major = keys(ok, macs, bad)
        return int(np.lexsort((minor, major, bad))[0])  # lexsort: last key is the primary one

    return pick, feasible


def _grid_search(problem: _Problem, pick, budget: int = GRID_BUDGET) -> np.ndarray:
    """Best cuts with the earlier exits on a grid and the last non-final exit swept exactly.

    With one or two non-final exits and at most `budget` distinct values this is exhaustive,
    hence the exact optimum on the validation set; otherwise the grid takes evenly spaced
    quantiles of each exit's statistic and coordinate descent refines the result.
    """
    m = problem.conf.shape[1] - 1
    if m == 0:
        return np.zeros(0, np.int64)
    last = m - 1
    grids = []
    per_exit = max(2, int(budget ** (1 / last))) if last else 1
    for e in range(last):
        values = np.unique(problem.conf[:, e])
        if values.size > per_exit - 1:
            values = values[np.linspace(0, values.size - 1, per_exit - 1).round().astype(int)]
        grids.append(np.r_[values, NEVER].astype(np.int64))
    best: np.ndarray | None = None
    best_score = (0, 0)
    for combo in itertools.product(*grids):
        cuts = np.array([*combo, NEVER], np.int64)
        cand, ok, macs = problem.sweep(cuts, last)
        i = pick(ok, macs)
        if best is None or pick([best_score[0], ok[i]], [best_score[1], macs[i]]) == 1:
            cuts[last] = cand[i]
            best, best_score = cuts, (ok[i], macs[i])
    assert best is not None  # every grid holds at least NEVER: the product is never empty
    return best


def _lagrangian(lam: float, n: int, full: int):
    def pick(ok: np.ndarray, macs: np.ndarray) -> int:
        cost = macs / (full * n) - lam * ok / n
        return int(np.lexsort((macs, -ok, cost))[0])

    return pick


def _to_thresholds(kind: str, cuts: np.ndarray, params: dict) -> tuple[float, ...]:
    out = []
    for c in cuts:
        if c == NEVER:
            out.append(never_threshold(kind))
        else:
            out.append(threshold_for(kind, int(-c if rule(kind).low_fires else c), params))
    return tuple(out)


def _point(problem: _Problem, cuts: np.ndarray, kind: str, params: dict, outputs: Outputs) -> dict:
    ex = problem.exits(cuts)
    n = outputs.num_samples
    ok = problem.correct[np.arange(n), ex]
    macs = float(outputs.exit_macs[ex].mean()) if n else 0.0
    counts = np.bincount(ex, minlength=outputs.num_exits)
    return {
        "thresholds": [threshold_to_json(t) for t in _to_thresholds(kind, cuts, params)],
        "accuracy": float(ok.mean()) if n else 0.0,
        "mean_macs": macs,
        "mac_fraction": macs / outputs.full_macs if outputs.full_macs else 0.0,
        "exit_fractions": (counts / max(n, 1)).tolist(),
    }


def _family(problem: _Problem, kind: str, params: dict, num_exits: int) -> list[np.ndarray]:
    """Per-exit cut vectors of one strictness family, loosest first."""
    m = num_exits - 1
    # counting kinds (patience, voting) have their own integer family
    family = rule(kind).cut_family(num_exits, {"voting_k": PolicyConfig().voting_k, **params})
    if family is not None:
        return [*family, np.full(m, NEVER)]
    # common strictness q: each exit's cut is the q-quantile of its own statistic
    conf = np.sort(problem.conf[:, :-1], axis=0)
    if not len(conf):
        return [np.full(m, NEVER)]
    qs = np.linspace(0.0, 1.0, 41)
    rows = np.minimum(np.ceil(qs[:-1] * len(conf)).astype(int), len(conf) - 1)
    return [conf[r] for r in rows] + [np.full(m, NEVER)]


def tradeoff_curve(outputs: Outputs, kind: str | PolicyKind, params: dict) -> list[dict]:
    """Accuracy and MACs of a policy over a range of strictness (loosest first, deduplicated)."""
    kind = PolicyKind(kind).value
    problem = _Problem.build(outputs, kind, params)
    points, seen = [], set()
    for cuts in _family(problem, kind, params, outputs.num_exits):
        point = _point(problem, cuts, kind, params, outputs)
        key = (point["accuracy"], point["mean_macs"], tuple(point["exit_fractions"]))
        if key not in seen:  # different cuts with the same outcome on these samples
            seen.add(key)
            points.append(point)
    return points


def curve_at(outputs: Outputs, kind: str | PolicyKind, params: dict, thresholds: list) -> dict:
    """One curve point's figures for given (JSON-encoded) thresholds, e.g. a val curve on test."""
    spec = PolicySpec(kind, tuple(threshold_from_json(t) for t in thresholds), params)
    exit_index, pred = apply_policy(outputs.logits, spec)
    s = summarise(exit_index, pred, outputs)
    keys = ("accuracy", "mean_macs", "mac_fraction", "exit_fractions")
    return {"thresholds": list(thresholds), **{k: s[k] for k in keys}}


def _check_outputs(outputs: Outputs) -> None:
    if outputs.num_samples == 0:
        raise ValueError("calibration needs validation samples, the outputs file holds none")
    if outputs.full_macs <= 0:
        raise ValueError(f"full_macs must be positive, got {outputs.full_macs}")


def _search(outputs: Outputs, kind: str, params: dict, cfg: PolicyConfig, final_ok: int) -> tuple:
    """Per-exit spec thresholds optimising cfg's target on these outputs."""
    n, full = outputs.num_samples, outputs.full_macs
    problem = _Problem.build(outputs, kind, params)
    pick, _ = _target(CalibrationTarget(cfg.target), n, full, cfg, final_ok)
    best = _descend(problem, _grid_search(problem, pick), pick)
    best_score = problem.score(best)
    cuts = best.copy()
    for lam in LAMBDAS:  # warm start: each lam starts from the previous one's solution
        cuts = _descend(problem, cuts, _lagrangian(float(lam), n, full))
        refined = _descend(problem, cuts, pick)
        score = problem.score(refined)
        if pick([best_score[0], score[0]], [best_score[1], score[1]]) == 1:
            best, best_score = refined, score
    spec = PolicySpec(kind, _to_thresholds(kind, best, params), params)
    if not np.array_equal(apply_policy(outputs.logits, spec)[0], problem.exits(best)):
        # the search and the policy itself must agree exactly, or the thresholds mean nothing
        raise RuntimeError(f"internal error: {kind} thresholds do not reproduce the search")
    return spec.thresholds


def meets_target(cfg: PolicyConfig, figures: dict, final_accuracy: float, n: int) -> bool:
    """Whether figures (summarise) meet cfg's calibration target on n samples."""
    if CalibrationTarget(cfg.target) == CalibrationTarget.ACCURACY_DROP:
        return figures["accuracy"] * n >= (final_accuracy - cfg.max_accuracy_drop) * n - 1e-6
    return figures["mac_fraction"] <= cfg.mac_budget * (1 + 1e-12)


def calibrate(outputs: Outputs, cfg: PolicyConfig) -> tuple[PolicySpec, dict[str, Any]]:
    """Per-exit thresholds meeting cfg's target on validation outputs, with the figures reached.

    The baseline is the final classifier alone (its argmax, at full_macs); explicit
    cfg.thresholds skip the search. The returned dict holds the val figures and the curve.
    """
    _check_outputs(outputs)
    start = time.monotonic()
    kind = PolicyKind(cfg.kind).value
    params = policy_params(kind, outputs, cfg)
    num_exits, n = outputs.num_exits, outputs.num_samples
    final_ok = int((predicted_class(outputs.logits[:, -1]) == outputs.labels).sum())
    if cfg.thresholds is not None:
        if len(cfg.thresholds) != num_exits - 1:
            raise ValueError(
                f"policy.thresholds has {len(cfg.thresholds)} values but the model has "
                f"{num_exits} exits: give {num_exits - 1} (one per non-final exit), or remove "
                "policy.thresholds to calibrate them"
            )
        thresholds = tuple(float(t) for t in cfg.thresholds)
    else:
        thresholds = _search(outputs, kind, params, cfg, final_ok)
    spec = PolicySpec(kind, thresholds, params)
    exit_index, pred = apply_policy(outputs.logits, spec)
    val = summarise(exit_index, pred, outputs)
    info: dict[str, Any] = {
        "kind": kind,
        "target": CalibrationTarget(cfg.target).value,
        "calibrated": cfg.thresholds is None,
        "feasible": meets_target(cfg, val, final_ok / n, n),
        "num_samples": n,
        "final_accuracy": final_ok / n,
        "accuracy": val["accuracy"],
        "mac_fraction": val["mac_fraction"],
        "speedup": val["speedup"],
        "thresholds": [threshold_to_json(t) for t in spec.thresholds],
        "val": val,
        "curve": tradeoff_curve(outputs, kind, params),
    }
    # elapsed time goes to the log only: policy.json stays identical when recomputed
    log.debug("calibration took %.2f s", time.monotonic() - start)
    _log_result(info)
    if not info["feasible"]:
        log.warning(
            "the %s thresholds miss the %s target on validation; they are the closest found "
            "(raise policy.mac_budget or policy.max_accuracy_drop, or pick another kind)",
            kind,
            info["target"],
        )
    return spec, info


def _log_result(info: dict) -> None:
    val = info["val"]
    log.info(
        "%s thresholds %s on %d validation samples: accuracy %.4f (final exit %.4f), "
        "MACs %.3f of full (speed-up %.2fx), exits %s",
        info["kind"],
        info["thresholds"],
        info["num_samples"],
        val["accuracy"],
        info["final_accuracy"],
        val["mac_fraction"],
        val["speedup"],
        [round(f, 3) for f in val["exit_fractions"]],
    )
