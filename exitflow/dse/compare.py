"""The honest comparison: the single-exit baseline by the same search, and the iso-resource sweep.

The baseline is the best single-exit design (all stages, the final head, no decision units or
buffers) that the same FINN folding and the same composition find within a budget: one target
cycles per frame T shared by every partition, on the same cycle grid; its throughput is the
static dataflow's f_clk / largest initiation interval. A budget in which no baseline fits has no
comparison (recorded, never a gain). At each budget, `gain_at_budget` is the best gated
design's simulated throughput over the best baseline's; FINN's folding is discrete, so the two
rarely use the same resources (fmnist3 on the Pynq-Z2: the baseline needs twice the DSPs for
a third more throughput at one step), so `gain_at_budget` is no equal-resource figure. `gain`
is: the gated design's throughput over the baseline's at the same resource fraction, taking
the baseline's most efficient design within the budget (highest throughput per resource
fraction) scaled linearly to the gated design's fraction (the scaling the bound assumes; the
baseline's best case). A gain above the physical bound 1 / sum_k f_k P_k of
that design (f_k: MACs of segment k with its head over the baseline's MACs; P_k: the fraction of
its simulated frames reaching segment k) raises BoundError.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from exitflow.dse.candidates import Candidate, remap
from exitflow.dse.compose import Topology
from exitflow.dse.evaluate import BoundError

__all__ = ["BaselinePoint", "fastest", "iso_sweep", "pareto_front"]

log = logging.getLogger(__name__)


@dataclass
class BaselinePoint:
    """The single-exit design folded for T cycles per frame in every partition."""

    target: int
    fps: float
    fraction: float
    binding: str
    resources: dict[str, float]
    reached: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_cycles": self.target,
            "fps": self.fps,
            "resource_fraction": self.fraction,
            "binding_resource": self.binding,
            "resources": {k: round(v, 1) for k, v in self.resources.items()},
            "targets_reached": self.reached,
        }


def best_baseline(points: list[BaselinePoint], budget: float) -> BaselinePoint | None:
    fit = [b for b in points if b.fraction <= budget + 1e-12]
    return max(fit, key=lambda b: b.fps) if fit else None


def pareto_front(cands: list[Candidate]) -> list[Candidate]:
    """Designs no other beats on every one of accuracy, throughput, p99 latency, resources."""

    def obj(c: Candidate) -> tuple[float, ...]:
        s = c.sim or {}
        return (-c.accuracy, -c.fps, float(s.get("latency_p99_us", 0)), c.fraction)

    unique: dict[tuple, Candidate] = {}
    for c in cands:  # different targets can fold to the same design
        unique.setdefault(
            (c.point.keep, c.point.thresholds, c.depth, c.shedding, c.fps, c.fraction), c
        )
    cands = list(unique.values())
    objs = [obj(c) for c in cands]
    front = []
    for i, a in enumerate(objs):
        dominated = any(
            all(x <= y for x, y in zip(b, a)) and any(x < y for x, y in zip(b, a))
            for j, b in enumerate(objs)
            if j != i
        )
        if not dominated:
            front.append(cands[i])
    return sorted(front, key=lambda c: c.fraction)


def _reach(c: Candidate, topo: Topology, frames: int) -> list[float]:
    n_exits = len(topo.exit_after)
    ex = remap(c.point.exit_index[:frames], c.point.keep, n_exits)
    return [float(np.mean(ex >= k)) for k in range(len(c.point.keep) + 1)]


def fastest(cands: list[Candidate], tol: float) -> Candidate | None:
    """The fastest design, or the least resource fraction among those within `tol` of its
    throughput (a design 0.1% faster for a quarter more of the board is not the better one)."""
    if not cands:
        return None
    top = max(c.fps for c in cands)
    near = [c for c in cands if c.fps >= top * (1 - tol)]
    return min(near, key=lambda c: (c.fraction, -c.fps))


def gated_ok(c: Candidate, budget: float, floor: float | None, base: BaselinePoint | None) -> bool:
    """Within the budget, and above the provisioned floor (worst case vs the baseline)."""
    if c.sim is None or c.fraction > budget + 1e-12:
        return False
    return floor is None or base is None or c.worst_fps >= floor * base.fps


def iso_sweep(
    sims: list[Candidate],
    baselines: list[BaselinePoint],
    topo: Topology,
    budgets: list[float],
    floor: float | None,
    tol: float = 0.0,
) -> list[dict[str, Any]]:
    """Per budget: best baseline, best gated design (`fastest` with `tol`), their gain, its
    bound, and the least resource fraction at which a gated design matches the baseline's
    throughput."""
    rows = []
    for b in sorted(budgets):
        base = best_baseline(baselines, b)
        row: dict[str, Any] = {"budget": b, "baseline": base.to_dict() if base else None}
        ok = [c for c in sims if gated_ok(c, b, floor, base)]
        best = fastest(ok, tol)
        row["gated"] = best.summary() if best else None
        if base is None:
            row["gain"] = None
            row["refused"] = f"no single-exit baseline fits {b:.0%} of the board"
        elif best is None:
            row["gain"] = None
            row["refused"] = f"no gated design fits {b:.0%} of the board" + (
                f" with no-exit throughput >= {floor:g} x the baseline's" if floor else ""
            )
        else:
            raw = best.fps / base.fps
            eff = max((p for p in baselines if p.fraction <= b + 1e-12),
                      key=lambda p: p.fps / p.fraction)  # fmt: skip
            gain = best.fps / (eff.fps * best.fraction / eff.fraction)
            row["baseline_equal_resources"] = {
                "scaled_from": eff.to_dict(),
                "fps": eff.fps * best.fraction / eff.fraction,
            }
            frames = int((best.sim or {}).get("frames", len(best.point.exit_index)))
            bound = topo.bound(best.point.keep, _reach(best, topo, frames))
            row.update(gain_at_budget=raw, gain=gain, bound=bound, fraction_of_bound=gain / bound)
            if gain > bound * (1 + 1e-9):
                raise BoundError(
                    f"at {b:.0%} of the board the gated design's gain at equal resources "
                    f"{gain:.3f} exceeds the physical bound {bound:.3f} (1/sum f_k P_k): gated "
                    f"{best.summary()}, baseline {base.to_dict()}; a bug in the estimates or "
                    "the search"
                )
        if base is not None:
            match = [c for c in sims if c.fps >= base.fps and gated_ok(c, 1.0, floor, base)]
            least = min(match, key=lambda c: c.fraction) if match else None
            row["least_fraction_matching_baseline"] = least.fraction if least else None
            row["least_fraction_matching_baseline_over_baseline"] = (
                least.fraction / base.fraction if least else None
            )
        for shed in (False, True):  # the trade-off between shedding and the provisioned floor
            alt = [c for c in ok if c.shedding == shed]
            pick = fastest(alt, tol)
            row["with_shedding" if shed else "without_shedding"] = (
                None
                if pick is None
                else {
                    "fps": pick.fps,
                    "no_exit_fps_worst": pick.worst_fps,
                    "accuracy": pick.accuracy,
                    "resource_fraction": pick.fraction,
                }
            )
        rows.append(row)
    return rows
