"""Candidates: a threshold point, per-stage folding targets and a buffer depth, and their figures.

Each candidate is screened analytically first (resources from the folded estimates, expected
throughput min_p f_clk / (II_p x P_p) over partitions p with reach P_p); only the ones that can
matter (on the analytic front, best within each budget, cheapest to match each baseline) are
simulated, at every buffer depth, on the validation exit sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exitflow.core.hwdesc_load import hwdesc_from_dict
from exitflow.dse.compose import Topology, compose, resource_fraction
from exitflow.dse.evaluate import evaluate_design, no_exit_fps, service_ladder
from exitflow.dse.space import CycleGrid, ThresholdPoint, stage_reach

__all__ = [
    "Candidate",
    "head_caps",
    "partition_targets",
    "rebalanced",
    "score_forced",
    "simulate_job",
    "stage_targets",
]


@dataclass
class Candidate:
    """One design: exits and thresholds (point), stage targets, and what was measured."""

    point: ThresholdPoint
    targets: tuple[int, ...]  # target cycles per stage
    slack: float
    floor_cap: int | None = None
    depth: int = 0
    shedding: bool = False
    resources: dict[str, float] = field(default_factory=dict)
    fraction: float = math.inf
    binding: str = ""
    analytic_fps: float = 0.0
    no_exit_fps: float = 0.0
    reached: bool = True
    sim: dict[str, Any] | None = None
    desc: dict[str, Any] | None = None
    parts: tuple[tuple[str, int], ...] = ()  # (partition, folding target) composed (search)

    @property
    def key(self) -> tuple:
        return (self.point.keep, self.point.thresholds, self.targets, self.depth, self.shedding)

    @property
    def fps(self) -> float:
        return float(self.sim["fps"]) if self.sim else 0.0

    @property
    def accuracy(self) -> float:
        """Validation accuracy; with shedding, forced frames scored at the exit they left at."""
        if self.sim and "accuracy" in self.sim:
            return float(self.sim["accuracy"])
        return self.point.accuracy

    @property
    def worst_fps(self) -> float:
        """Throughput of the no-exit stream (shedding's when the design sheds)."""
        if self.shedding and self.sim and "no_exit_fps_shedding" in self.sim:
            return float(self.sim["no_exit_fps_shedding"])
        return self.no_exit_fps

    def summary(self) -> dict[str, Any]:
        out = {
            **self.point.to_dict(),
            "stage_target_cycles": list(self.targets),
            # what each partition was folded for: heads at their cap (head_caps) where lower
            "partition_target_cycles": dict(self.parts),
            "rate_slack": self.slack,
            "floor_cap_cycles": self.floor_cap,
            "cond_buffer_frames": self.depth,
            "load_shedding": self.shedding,
            "resources": {k: round(v, 1) for k, v in self.resources.items()},
            "resource_fraction": self.fraction,
            "binding_resource": self.binding,
            "analytic_fps": self.analytic_fps,
            "no_exit_fps": self.no_exit_fps,
            "targets_reached": self.reached,
        }
        if self.sim:
            out.update({k: self.sim[k] for k in ("fps", "latency_p50_us", "latency_p99_us")})
            out["sim_frames"] = self.sim["frames"]
            out["accuracy_in_sim"] = self.accuracy
            out["no_exit_fps_worst"] = self.worst_fps
            if self.shedding:
                out["forced_frames"] = self.sim.get("forced", 0)
                out["arrival_period_cycles"] = self.sim.get("period_cycles")
                out["service_fraction"] = self.sim.get("service_fraction")
        return out


def stage_targets(
    topo: Topology, point: ThresholdPoint, fps: float, slack: float, floor: float,
    clock_mhz: float, grid: CycleGrid, cap: int | None,
) -> tuple[int, ...]:  # fmt: skip
    """Per-stage target cycles for frame rate `fps` into stage 0."""
    reach = stage_reach(point.exit_index, topo.exit_after, topo.num_stages)
    out = []
    for k, p in enumerate(reach):
        rate = 1.0 if k == 0 else min(1.0, max(floor, slack * p))
        t = grid.floor(clock_mhz * 1e6 / (fps * rate))
        out.append(t if cap is None else min(t, cap))
    return tuple(out)


def rebalanced(c: Candidate, topo: Topology, clock_mhz: float, grid: CycleGrid) -> Candidate | None:
    """The candidate with its bottleneck stage folded for the next-slowest stage's frame rate.

    Stage k sustains f_clk / (cycles_k x P_k) input frames/s; targets derived from one frame
    rate leave cheap stages (stage 0: a few DSPs) as the bottleneck of designs whose later
    stages could go faster. None where no stage is the lone bottleneck."""
    if not c.desc:
        return None
    reach = stage_reach(c.point.exit_index, topo.exit_after, topo.num_stages)
    cycles = {p["name"]: p["cycles_per_frame"] for p in c.desc["partitions"]}
    rate = [clock_mhz * 1e6 / (cycles[f"stage{k}"] * max(p, 1e-9)) for k, p in enumerate(reach)]
    if len(rate) < 2:
        return None
    j = int(np.argmin(rate))
    nxt = sorted(rate)[1]
    t = list(c.targets)
    t[j] = min(t[j], grid.floor(clock_mhz * 1e6 / (nxt * max(reach[j], 1e-9))))
    if nxt <= rate[j] * 1.02 or tuple(t) == c.targets:
        return None
    return Candidate(c.point, tuple(t), c.slack, c.floor_cap, depth=c.depth)


def head_caps(
    topo: Topology, reach: list[float], reached: list[int], grid: CycleGrid
) -> dict[int, int]:
    """Cycles per frame that keep each head (and decision unit) of a design off its bottleneck.

    FINN's folding is discrete, so a stage often reaches fewer cycles than its target, and a head
    folded for that target alone became the design's bottleneck (fmnist3: head 0 at 4,351
    cycles behind stage 0 at 3,956). The slowest stage sets the design's cycles per input frame,
    B = max_k reached_k x P_k; head e behind stage k sees P_k of the frames, so B / P_k (on
    `grid`, never above it) is as slow as it may be. `reached`: the cycles each stage's folding
    reached; `reach`: P_k per stage (stage_reach; 1 for every stage of the single-exit baseline).
    """
    bound = max(c * p for c, p in zip(reached, reach))
    return {e: grid.floor(bound / max(reach[k], 1e-9)) for e, k in enumerate(topo.exit_after)}


def partition_targets(
    topo: Topology,
    keep: tuple[int, ...],
    targets: tuple[int, ...],
    caps: dict[int, int] | None = None,
) -> list[tuple[str, int]]:
    """(partition, target) of every partition of a design keeping exits `keep`: each head and
    decision unit at its stage's target, or at its cap (head_caps) where that is lower."""
    pairs = [(f"stage{k}", t) for k, t in enumerate(targets)]
    last = len(topo.exit_after) - 1
    for e in [*keep, last]:
        t = targets[topo.exit_after[e]]
        if caps is not None:
            t = min(t, caps[e])
        pairs.append((f"head{e}", t))
        if e != last:
            pairs.append((f"decision{e}", t))
    return pairs


def remap(exit_index: np.ndarray, keep: tuple[int, ...], num_exits: int) -> np.ndarray:
    """Exit numbers of the design that keeps `keep` (dropped exits never fire)."""
    kept = np.asarray([*keep, num_exits - 1])
    return np.searchsorted(kept, exit_index).astype(np.int64)


def fill(cand: Candidate, topo: Topology, ests: dict[str, dict], policy: dict, fifo: int,
         clock: float, board: dict[str, int]) -> None:  # fmt: skip
    """Compose the candidate, its resources, fraction and analytic figures."""
    desc, res = compose(topo, ests, cand.point.keep, list(cand.point.integer), policy,
                        cand.depth, fifo, clock)  # fmt: skip
    cand.desc, cand.resources = desc.to_dict(), res
    cand.fraction, cand.binding = resource_fraction(res, board)
    cand.no_exit_fps = no_exit_fps(desc)
    cand.reached = all(e.get("reached", True) for e in ests.values())
    reach = stage_reach(cand.point.exit_index, topo.exit_after, topo.num_stages)
    rate = []
    for p in desc.partitions:
        if p.kind == "stage":
            share = reach[int(p.name.removeprefix("stage"))]
        else:
            src = desc.partition(p.reads or "")
            while src.kind != "stage":
                src = desc.partition(src.reads or "")
            share = reach[int(src.name.removeprefix("stage"))]
        rate.append(clock * 1e6 / (p.cycles_per_frame * max(share, 1e-9)))
    for b in desc.cond_buffers:
        share = reach[int(b.after.removeprefix("stage"))]
        rate.append(clock * 1e6 / (max(1, b.cycles_per_frame or 1) * max(share, 1e-9)))
    cand.analytic_fps = min(rate)


def simulate_job(
    desc: dict[str, Any], exit_index: list[int], shedding: bool = False
) -> dict[str, Any]:
    """A pool job: simulate a composed design on an exit sequence (evaluate_design); a
    shedding design at every rate of its service ladder (service_ladder)."""
    hw = hwdesc_from_dict(desc, "a dse candidate")
    if shedding:
        return service_ladder(hw, np.asarray(exit_index))
    return evaluate_design(hw, np.asarray(exit_index), shedding)


def _forced_accuracy(c: Candidate, sim: dict, logits: np.ndarray, labels: np.ndarray,
                     num_exits: int) -> float:  # fmt: skip
    """Validation accuracy with the forced frames of `sim` taking the top-1 of the exit they
    left at (the point's accuracy minus what forcing lost on the simulated frames)."""
    ex = np.asarray(sim["exit_index"], np.int64)
    n = len(ex)
    kept = np.asarray([*c.point.keep, num_exits - 1])
    rows = np.arange(n)
    got = np.argmax(logits[rows, kept[ex]], axis=1) == labels[:n]
    policy = np.argmax(logits[rows, c.point.exit_index[:n]], axis=1) == labels[:n]
    return c.point.accuracy - float(np.mean(policy) - np.mean(got))


def score_forced(c: Candidate, logits: np.ndarray, labels: np.ndarray, num_exits: int,
                 min_accuracy: float = 0.0) -> None:  # fmt: skip
    """A shedding candidate's figures at the fastest rate of its service ladder whose accuracy
    (forced frames scored at the exit they left at) is at least `min_accuracy` (the slowest
    rate where none is): `sim` becomes that rate's figures, with `accuracy`, the saturated
    no-shedding `saturated_fps` and every rate tried (`service`)."""
    if not c.sim:
        return
    ladder = c.sim.get("ladder") or ([c.sim] if "exit_index" in c.sim else [])
    if not ladder:
        return
    tried = []
    for r in ladder:
        acc = _forced_accuracy(c, r, logits, labels, num_exits)
        tried.append({"service_fraction": r.get("service_fraction", 1.0), "fps": r["fps"],
                      "forced": r.get("forced", 0), "accuracy": acc})  # fmt: skip
    pick = next((i for i, t in enumerate(tried) if t["accuracy"] >= min_accuracy), len(tried) - 1)
    c.sim = {**ladder[pick], "accuracy": tried[pick]["accuracy"], "service": tried,
             "saturated_fps": c.sim.get("saturated_fps")}  # fmt: skip
