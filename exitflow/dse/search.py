"""`exitflow dse`: the search, from a built run to dse/report.json and the chosen design.

1. Threshold points per exit subset (exitflow.dse.space), within the accuracy constraint.
2. The single-exit baseline on the cycle grid (exitflow.dse.compare): its best design per budget.
3. Gated candidates: every point x rate slack x frame rate F (geometric, spanning the
   baselines' range up to the largest bound), and with `floor_fraction`, each also with every
   partition capped at the cycles that keep the no-exit throughput at that fraction of the
   baseline's in each budget (later stages folded for it).
4. Fold every (partition, target) once (cached on disk), compose and screen analytically.
5. Simulate the finalists at every buffer depth on the validation exits (cached on disk).
6. The Pareto front, the iso-resource sweep (gain vs bound, raises past it), the chosen design.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from exitflow.core.errors import ConfigError
from exitflow.dse.cache import DiskCache, digest
from exitflow.dse.candidates import (
    Candidate,
    fill,
    head_caps,
    partition_targets,
    rebalanced,
    remap,
    score_forced,
    simulate_job,
    stage_targets,
)
from exitflow.dse.compare import BaselinePoint, best_baseline, fastest, iso_sweep, pareto_front
from exitflow.dse.compose import compose, resource_fraction
from exitflow.dse.config import DseConfig, Objective
from exitflow.dse.evaluate import no_exit_fps
from exitflow.dse.executor import make_executor
from exitflow.dse.inputs import Inputs, PartitionFolder
from exitflow.dse.space import CycleGrid, stage_reach, threshold_points

__all__ = ["SearchResult", "search"]

log = logging.getLogger(__name__)

GRID_LO = 16  # smallest target cycles per frame on the grid
GRID_HI = 1 << 22  # largest (a few tens of frames/s at 100 MHz)
HEAD_GRID = CycleGrid(GRID_LO, 1.02)  # heads' caps (head_caps): at most 2% faster than needed
PER_BUDGET = 3  # analytic best per budget that are simulated
REBALANCE_ROUNDS = 2  # rounds of folding each candidate's bottleneck stage for the next one


@dataclass
class SearchResult:
    """Everything the search found (search() writes it as dse/report.json)."""

    report: dict[str, Any]
    chosen: Candidate | None
    folder_evaluations: int
    simulations: int
    chosen_folds: dict[tuple[str, int], dict]
    baselines: list[BaselinePoint] = field(default_factory=list)
    designs: list[Candidate] = field(default_factory=list)  # simulated, within the accuracy drop


def _baselines(inp: Inputs, folder: PartitionFolder, grid: CycleGrid) -> list[BaselinePoint]:
    topo = inp.topo
    last = len(topo.exit_after) - 1
    names = [f"stage{k}" for k in range(topo.num_stages)] + [f"head{last}"]
    coarse = CycleGrid(grid.lo, grid.step**4).values(GRID_LO, GRID_HI)

    stages = names[:-1]
    ones = [1.0] * topo.num_stages

    def at(targets: list[int]) -> list[BaselinePoint]:
        got = folder.get({(n, t) for n in stages for t in targets})
        heads = {}
        for t in targets:
            cycles = [int(got[(n, t)]["cycles_per_frame"]) for n in stages]
            heads[t] = min(t, head_caps(topo, ones, cycles, HEAD_GRID)[last])
        got |= folder.get({(names[-1], h) for h in heads.values()})
        out = []
        for t in targets:
            parts = [(n, t) for n in stages] + [(names[-1], heads[t])]
            ests = _estimates(folder, parts, [(n, t) for n in names])
            desc, res = compose(topo, ests, (), [], {"kind": inp.kind}, 1, inp.fifo_depth,
                                inp.clock_mhz)  # fmt: skip
            frac, key = resource_fraction(res, inp.board_resources)
            reached = all(e["reached"] for e in ests.values())
            out.append(BaselinePoint(t, no_exit_fps(desc), frac, key, res, reached))
        return out

    points = at(coarse)
    # refine on the fine grid around every budget's boundary (fits -> does not fit)
    fine: set[int] = set()
    by_t = sorted(points, key=lambda b: b.target)
    for a, b in itertools.pairwise(by_t):
        if a.fraction != b.fraction:
            fine |= set(grid.values(a.target + 1, b.target - 1))
    return points + at(sorted(fine))


def _candidates(inp: Inputs, cfg: DseConfig, grid: CycleGrid, points, base) -> list[Candidate]:
    fps_lo = min(b.fps for b in base) / 2
    fps_hi = max(b.fps for b in base if b.fraction <= 1.0) * 4 if base else fps_lo * 100
    rates = [
        fps_lo * (fps_hi / fps_lo) ** (i / (cfg.fps_points - 1)) for i in range(cfg.fps_points)
    ]
    caps: list[int | None] = [None]
    if cfg.floor_fraction is not None:
        for b in cfg.budgets:
            bb = best_baseline(base, b)
            if bb is not None:
                caps.append(grid.floor(inp.clock_mhz * 1e6 / (cfg.floor_fraction * bb.fps)))
    seen, out = set(), []
    for pt in points:
        for slack in cfg.rate_slack:
            for f in rates:
                for cap in caps:
                    t = stage_targets(inp.topo, pt, f, slack, cfg.rate_floor, inp.clock_mhz,
                                      grid, cap)  # fmt: skip
                    key = (pt.keep, pt.thresholds, t)
                    if key not in seen:
                        seen.add(key)
                        out.append(Candidate(pt, t, slack, cap, depth=min(cfg.buffer_depths)))
    return out


def _estimates(folder: PartitionFolder, parts, asked) -> dict[str, dict]:
    """The folded estimates of `parts`, each `reached` as judged against its target in `asked`
    (a head folded for a cap below its stage's target still meets the design's target)."""
    ests = {n: folder.estimate(n, t) for n, t in parts}
    for n, t in asked:
        ests[n]["reached"] = int(ests[n]["cycles_per_frame"]) <= t
    return ests


def _compose(inp: Inputs, folder: PartitionFolder, cands: list[Candidate]) -> list[Candidate]:
    """Fold what the candidates need (cached), compose and screen them: the stages first, then
    each head for its stage's target or the cap that keeps it off the bottleneck (head_caps)."""
    topo = inp.topo
    got = folder.get({(f"stage{k}", t) for c in cands for k, t in enumerate(c.targets)})
    for c in cands:
        cycles = [int(got[(f"stage{k}", t)]["cycles_per_frame"]) for k, t in enumerate(c.targets)]
        reach = stage_reach(c.point.exit_index, topo.exit_after, topo.num_stages)
        caps = head_caps(topo, reach, cycles, HEAD_GRID)
        c.parts = tuple(partition_targets(topo, c.point.keep, c.targets, caps))
    folder.get({pt for c in cands for pt in c.parts})
    policy = {"kind": inp.kind, "params": inp.params}
    for c in cands:
        ests = _estimates(folder, c.parts, partition_targets(topo, c.point.keep, c.targets))
        fill(c, topo, ests, policy, inp.fifo_depth, inp.clock_mhz, inp.board_resources)
    return cands


def _finalists(
    cands: list[Candidate], base: list[BaselinePoint], cfg: DseConfig
) -> list[Candidate]:
    pick: dict[tuple, Candidate] = {}
    budgets = sorted({*cfg.budgets, cfg.budget})
    for b in budgets:
        bb = best_baseline(base, b)
        # the analytic floor only where no design sheds (shedding may lift one over it)
        need = 0.0
        sheds = True in cfg.load_shedding.options()
        if cfg.floor_fraction is not None and bb is not None and not sheds:
            need = cfg.floor_fraction * bb.fps
        ok = [c for c in cands if c.fraction <= b and c.no_exit_fps >= need]
        for c in sorted(ok, key=lambda c: -c.analytic_fps)[:PER_BUDGET]:
            pick[c.key] = c
        if bb is not None:
            match = [c for c in cands if c.analytic_fps >= bb.fps]
            for c in sorted(match, key=lambda c: c.fraction)[:PER_BUDGET]:
                pick[c.key] = c
    if cfg.objective == Objective.RESOURCES and cfg.target_fps:
        match = [c for c in cands if c.analytic_fps >= cfg.target_fps]
        for c in sorted(match, key=lambda c: c.fraction)[:PER_BUDGET]:
            pick[c.key] = c
    return list(pick.values())


def search(inp: Inputs, cfg: DseConfig, cache_dir: Path) -> SearchResult:
    """Run the whole search on a run's inputs; evaluations cached under `cache_dir`."""
    start = time.monotonic()
    cache = DiskCache(cache_dir)
    executor = make_executor(cfg.workers, cfg.ray_address)
    try:
        return _search(inp, cfg, cache, executor, start)
    finally:
        executor.close()


def _search(inp: Inputs, cfg: DseConfig, cache: DiskCache, executor, start: float) -> SearchResult:
    topo, out = inp.topo, inp.outputs
    drop = cfg.max_accuracy_drop if cfg.max_accuracy_drop is not None else 0.0
    points = threshold_points(out, inp.kind, inp.params, inp.calibrated, drop, cfg.curve_points,
                              cfg.search_exits)  # fmt: skip
    if not points:
        raise ConfigError(
            f"no thresholds keep the validation accuracy within {drop} of the final exit's: "
            "raise dse.max_accuracy_drop"
        )
    log.info("%d threshold points over %d exit subsets", len(points),
             len({p.keep for p in points}))  # fmt: skip
    grid = CycleGrid(GRID_LO, cfg.cycle_step)
    folder = PartitionFolder(inp, cache, executor, cfg)
    base = _baselines(inp, folder, grid)
    cands = _compose(inp, folder, _candidates(inp, cfg, grid, points, base))
    for _ in range(REBALANCE_ROUNDS):  # the bottleneck stage folded for the next one's rate
        seen = {c.key for c in cands}
        more = [r for c in cands if (r := rebalanced(c, topo, inp.clock_mhz, grid)) is not None]
        more = list({r.key: r for r in more if r.key not in seen}.values())
        cands += _compose(inp, folder, more)
    log.info("%d candidates composed and screened (%d partition foldings, %d from cache)",
             len(cands), folder.evaluated, cache.hits)  # fmt: skip
    finals = _finalists([c for c in cands if c.reached], base, cfg)
    simulated = _simulate(inp, cfg, cache, executor, folder, finals)
    final_acc = float(np.mean(out.logits[:, -1].argmax(-1) == out.labels))
    min_acc = final_acc - drop - 1e-12
    for c in simulated:
        score_forced(c, out.logits, out.labels, len(topo.exit_after), min_acc)
    sims = [c for c in simulated if c.accuracy >= min_acc]
    front = pareto_front(sims)
    sweep = iso_sweep(sims, base, topo, cfg.budgets, cfg.floor_fraction, cfg.fps_tolerance)
    chosen, why = _choose(sims, base, cfg)
    minutes = (time.monotonic() - start) / 60
    report = {
        "schema": "exitflow.dse/1",
        "board": inp.board,
        "clock_mhz": inp.clock_mhz,
        "objective": str(cfg.objective),
        "budget": cfg.budget,
        "target_fps": cfg.target_fps,
        "floor_fraction": cfg.floor_fraction,
        "load_shedding": str(cfg.load_shedding),
        "max_accuracy_drop": drop,
        "resources_from": _sources(folder, cfg),
        "fraction_rule": "max over LUT, FF, BRAM_18K, URAM, DSP of used / available "
        "(partitions, conditional buffers, stream FIFOs, forks, decision units, merge)",
        "threshold_points": [p.to_dict() for p in points],
        "baseline": [b.to_dict() for b in sorted(base, key=lambda b: b.fraction)],
        "pareto_front": [c.summary() for c in front],
        "iso_resource": sweep,
        "chosen": chosen.summary() if chosen else None,
        "chosen_rule": why,
        "stats": {
            "minutes": round(minutes, 3),
            "candidates": len(cands),
            "simulated_designs": len(simulated),
            "shedding_designs_over_accuracy_drop": len(simulated) - len(sims),
            "partition_foldings": folder.evaluated,
            "cache_hits": cache.hits,
            "targets_not_reached": sum(1 for c in cands if not c.reached),
            "foldings_with_mvau_wwidth_raised": sum(
                1 for f in folder.memo.values() if len(f.get("tries") or []) > 1
            ),
            "executor": executor.name,
            "sim_frames": int((simulated[0].sim or {}).get("frames", 0)) if simulated else 0,
        },
    }
    folds = {}
    if chosen is not None:
        folds = {pt: folder.memo[pt] for pt in chosen.parts}
    return SearchResult(report, chosen, folder.evaluated, len(simulated), folds, base, sims)


# raised whenever a simulation job's result changes shape or meaning (2: shedding designs
# simulated at their service ladder; 3: fps in steady state), so cached results of an older
# job are not reused
SIM_VERSION = 3


def _simulate(inp, cfg, cache, executor, folder, finals: list[Candidate]) -> list[Candidate]:
    topo, n_exits = inp.topo, len(inp.topo.exit_after)
    frames = cfg.sim_frames or len(inp.outputs.labels)
    variants, jobs, keys = [], [], []
    policy = {"kind": inp.kind, "params": inp.params}
    for c in finals:
        ests = _estimates(folder, c.parts, partition_targets(topo, c.point.keep, c.targets))
        for d, shed in itertools.product(sorted(set(cfg.buffer_depths)),
                                         cfg.load_shedding.options()):  # fmt: skip
            if not c.point.keep and (shed or d != min(cfg.buffer_depths)):
                continue  # no exit, no buffer: one depth is enough, nothing to shed
            v = replace(c, depth=d, sim=None, shedding=shed)
            if c.point.keep:
                fill(v, topo, ests, policy, inp.fifo_depth, inp.clock_mhz, inp.board_resources)
            ex = remap(c.point.exit_index[:frames], c.point.keep, n_exits)
            key = digest(v.desc, ex.tolist(), shed, SIM_VERSION)
            variants.append(v)
            keys.append(key)
            jobs.append({"desc": v.desc, "exit_index": ex.tolist(), "shedding": shed})
    todo = []
    for i, k in enumerate(keys):
        hit = cache.get("sim", k)
        if hit is None:
            todo.append(i)
        else:
            variants[i].sim = hit
    log.info("simulating %d designs (%d cached) on %d validation frames", len(todo),
             len(jobs) - len(todo), frames)  # fmt: skip
    for i, res in zip(todo, executor.map(simulate_job, [jobs[i] for i in todo])):
        cache.put("sim", keys[i], res)
        variants[i].sim = res
    return variants


def _choose(sims: list[Candidate], base, cfg: DseConfig) -> tuple[Candidate | None, str]:
    bb = best_baseline(base, cfg.budget)  # any exit subset builds (hw.keep_exits)
    floor_ok = [c for c in sims if cfg.floor_fraction is None or bb is None
                or c.worst_fps >= cfg.floor_fraction * bb.fps]  # fmt: skip
    if cfg.objective == Objective.RESOURCES:
        ok = [c for c in floor_ok if c.fps >= float(cfg.target_fps or math.inf)]
        best = min(ok, key=lambda c: (c.fraction, -c.fps)) if ok else None
        return best, f"least resource fraction with validation throughput >= {cfg.target_fps}"
    ok = [c for c in floor_ok if c.fraction <= cfg.budget + 1e-12]
    best = fastest(ok, cfg.fps_tolerance)
    return best, (
        f"highest validation throughput within {cfg.budget:.0%} of the board (the least "
        f"resource fraction among designs within {cfg.fps_tolerance:.0%} of it)"
    )


def _sources(folder: PartitionFolder, cfg: DseConfig) -> str:
    found = {folder.estimate(n, t)["resource_source"] for n, t in folder.memo}
    if found == {"yosys"}:
        return "FINN estimates corrected by yosys synthesis counts (build/synth.json)"
    if "yosys" in found:
        return "mixed: yosys-corrected where build/synth.json has the partition, FINN elsewhere"
    return "FINN estimates (no FF count from FINN; exitflow's blocks from yosys-fitted formulas)"
