"""The search space: which exits, which thresholds, which per-stage folding targets.

- Thresholds are points of the calibrated trade-off curve (exitflow.quant.calibrate's
  `tradeoff_curve` on the validation outputs), the calibrated policy itself, and the policy
  calibrated afresh (exitflow.quant.calibrate's accuracy-drop search) at `DROP_LADDER` steps
  up to the allowed drop, kept when their validation accuracy is within the allowed drop from
  the final exit. The curve is one family of cuts (fmnist3: nothing cheaper than the
  calibrated point within 0.3 points); the per-drop searches are what reach cheaper points.
- Exits: every subset of the non-final exits (a left-out exit never fires and has no head,
  decision unit or buffer in hardware).
- Folding: stage k is folded for a frame rate F x r_k, r_k = max(floor, slack x P_k) with P_k
  the fraction of validation frames that reach it under the candidate's thresholds; its head and
  decision unit with it. Target cycles are rounded down onto a geometric grid, so partitions
  shared by many candidates are folded once per grid point.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from exitflow.core.outputs import Outputs
from exitflow.core.policies import (
    PolicySpec,
    apply_policy,
    integer_threshold,
    threshold_from_json,
    threshold_to_json,
)

__all__ = ["CycleGrid", "ThresholdPoint", "point_on", "stage_reach", "threshold_points"]

DROP_LADDER = 4  # calibrations at drop x 1/4, 2/4, 3/4, 1 of the allowed accuracy drop


def _recalibrated(outputs: Outputs, kind: str, params: dict, max_drop: float) -> list[list]:
    """Thresholds (JSON) of the policy calibrated for accuracy drops up to `max_drop`."""
    from exitflow.core.kinds import PolicyKind
    from exitflow.quant.calibrate import calibrate
    from exitflow.quant.config import PolicyConfig

    if max_drop <= 0:
        return []
    extra = {k: params[k] for k in ("patience", "voting_k") if k in params}
    out = []
    for i in range(1, DROP_LADDER + 1):
        cfg = PolicyConfig(
            kind=PolicyKind(kind), max_accuracy_drop=max_drop * i / DROP_LADDER, **extra
        )
        spec, _ = calibrate(outputs, cfg)
        out.append([threshold_to_json(t) for t in spec.thresholds])
    return out


@dataclass(frozen=True)
class ThresholdPoint:
    """One exit policy setting: thresholds (JSON encoding) and its validation figures."""

    keep: tuple[int, ...]  # non-final exits in hardware
    thresholds: tuple[Any, ...]  # per non-final exit, JSON encoding ("inf": never fires)
    integer: tuple[float, ...]  # integer thresholds, +inf for never
    accuracy: float
    mac_fraction: float
    exit_index: np.ndarray  # [N] validation exit per frame (original exit numbering)

    def to_dict(self) -> dict[str, Any]:
        return {
            "keep": list(self.keep),
            "thresholds": list(self.thresholds),
            "accuracy": self.accuracy,
            "mac_fraction": self.mac_fraction,
        }


def _point(
    outputs: Outputs, kind: str, params: dict, keep: tuple[int, ...], th: list
) -> ThresholdPoint:
    from exitflow.quant.calibrate import summarise

    num = outputs.num_exits - 1
    th = [t if e in keep else "inf" for e, t in enumerate(th[:num])]
    spec = PolicySpec(kind, tuple(threshold_from_json(t) for t in th), params)
    exit_index, pred = apply_policy(outputs.logits, spec)
    s = summarise(exit_index, pred, outputs)
    ints = []
    for e, t in enumerate(spec.thresholds):
        i = integer_threshold(kind, t, spec.exit_params(e))
        ints.append(math.inf if i is None else float(i))
    return ThresholdPoint(keep, tuple(th), tuple(ints), float(s["accuracy"]),
                          float(s["mac_fraction"]), exit_index)  # fmt: skip


def point_on(
    outputs: Outputs, kind: str, params: dict, keep: tuple[int, ...], thresholds: list
) -> ThresholdPoint:
    """The same exits and thresholds applied to other outputs (the test set's, for the final
    figures)."""
    return _point(outputs, kind, params, keep, list(thresholds))


def threshold_points(
    outputs: Outputs,
    kind: str,
    params: dict,
    calibrated: list,
    max_drop: float,
    count: int,
    search_exits: bool,
) -> list[ThresholdPoint]:
    """Up to `count` points per exit subset within the accuracy constraint, spread over MACs
    (the cheapest and the calibrated one always among them)."""
    from exitflow.quant.calibrate import tradeoff_curve

    num = outputs.num_exits - 1
    final_acc = float(np.mean(outputs.logits[:, -1].argmax(-1) == outputs.labels))
    floor = final_acc - max_drop - 1e-12
    curve = [p["thresholds"] for p in tradeoff_curve(outputs, kind, params)]
    curve += _recalibrated(outputs, kind, params, max_drop)
    subsets = [tuple(range(num))]
    if search_exits:
        subsets = [c for r in range(num, -1, -1) for c in itertools.combinations(range(num), r)]
    out: list[ThresholdPoint] = []
    for keep in subsets:
        seen: dict[tuple, ThresholdPoint] = {}
        for th in [list(calibrated), *curve]:
            p = _point(outputs, kind, params, keep, th)
            if p.accuracy >= floor and p.thresholds not in seen:
                seen[p.thresholds] = p
        pts = sorted(seen.values(), key=lambda p: p.mac_fraction)
        if not pts:
            continue
        picks = {0, *np.linspace(0, len(pts) - 1, count).round().astype(int).tolist()}
        cal = next((i for i, p in enumerate(pts) if list(p.thresholds) == list(calibrated)), None)
        if cal is not None:
            picks.add(cal)
        chosen = sorted(picks)[: max(count, 2)]
        if cal is not None and cal not in chosen:
            chosen[-1] = cal
        out += [pts[i] for i in sorted(set(chosen))]
    return out


def stage_reach(
    exit_index: np.ndarray, exit_after: tuple[int, ...], num_stages: int
) -> list[float]:
    """Fraction of frames reaching each stage (a frame leaving after stage s reached 0..s)."""
    stage_of = np.asarray(exit_after)[exit_index]
    n = max(1, len(exit_index))
    return [float(np.count_nonzero(stage_of >= k)) / n for k in range(num_stages)]


@dataclass(frozen=True)
class CycleGrid:
    """Target cycles per frame on a geometric grid: lo * step^i."""

    lo: int
    step: float

    def floor(self, cycles: float) -> int:
        """The largest grid value <= cycles (the fastest folding that is not slower)."""
        if cycles <= self.lo:
            return self.lo
        i = math.floor(math.log(cycles / self.lo) / math.log(self.step) + 1e-9)
        return math.floor(self.lo * self.step**i)

    def values(self, lo: float, hi: float) -> list[int]:
        """Grid values in [lo, hi]."""
        out: list[int] = []
        i = 0
        while True:
            v = math.floor(self.lo * self.step**i)
            if v > hi:
                return out
            if v >= lo:
                out.append(v)
            i += 1
