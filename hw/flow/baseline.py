"""Folding of the single-exit baseline: the fastest design that fits the gated design's budget.

The baseline (same stages, final head, no exits) sees every frame in every stage, so all its
partitions share one target cycles per frame T. We pick the smallest T (highest throughput) for
which FINN's estimates of the whole baseline stay within the gated design's total (its stages,
heads, decision units and conditional buffers) on each of LUT, BRAM_18K, URAM and DSP. The
candidates are a geometric grid of T; estimates grow as T shrinks (more parallelism), so the
grid is bisected, then the step between the last misfit and the first fit is bisected to 1%. Same clock, same FINN folding algorithm (SetFolding), same bit-width passes and width
converters as the built baseline (the flow passes its own steps as `fold_and_minimize`).
"""

from __future__ import annotations

import logging

from qonnx.core.modelwrapper import ModelWrapper

from exitflow.hw.flow import estimates
from exitflow.hw.flow.estimates import RES_KEYS

log = logging.getLogger(__name__)


def _fits(used: dict[str, float], budget: dict[str, float]) -> bool:
    return all(used.get(k, 0.0) <= budget.get(k, 0.0) + 1e-9 for k in RES_KEYS)


def baseline_resources(
    models: dict[str, ModelWrapper], target: int, fpgapart: str, fold_and_minimize
) -> dict[str, float]:
    """Total estimated resources of the baseline partitions folded for `target` cycles."""
    total = estimates.add_res()
    for name, model in models.items():
        folded = fold_and_minimize(ModelWrapper(model.model.SerializeToString()), name, target)
        total = estimates.add_res(
            total, estimates.partition_estimate(folded, name, fpgapart).resources
        )
    return total


def choose_target(
    models: dict[str, ModelWrapper],
    budget: dict[str, float],
    fpgapart: str,
    fold_and_minimize,
    lo: int,
    hi: int,
    points: int = 24,
) -> tuple[int, dict[str, float], bool]:
    """(T, resources at T, fits) for the smallest grid T in [lo, hi] whose estimate fits
    `budget`; if none fits, the largest T (the cheapest baseline) with fits=False."""
    lo, hi = max(1, lo), max(lo + 1, hi)
    ratio = (hi / lo) ** (1 / (points - 1))
    grid = sorted({max(1, round(lo * ratio**i)) for i in range(points)})
    cache: dict[int, dict[str, float]] = {}

    def res(t: int) -> dict[str, float]:
        if t not in cache:
            cache[t] = baseline_resources(models, t, fpgapart, fold_and_minimize)
            log.debug("baseline T=%d: %s", t, cache[t])
        return cache[t]

    if not _fits(res(grid[-1]), budget):
        log.warning("baseline: even T=%d exceeds the gated design's budget %s", grid[-1], budget)
        return grid[-1], res(grid[-1]), False
    left, right = 0, len(grid) - 1  # invariant: grid[right] fits
    while left < right:
        mid = (left + right) // 2
        if _fits(res(grid[mid]), budget):
            right = mid
        else:
            left = mid + 1
    if right == 0:
        return grid[0], res(grid[0]), True
    # refine between the last grid point that did not fit and the first that does
    lo_t, hi_t = grid[right - 1], grid[right]
    while hi_t - lo_t > max(1, hi_t // 100):
        mid = (lo_t + hi_t) // 2
        if _fits(res(mid), budget):
            hi_t = mid
        else:
            lo_t = mid
    return hi_t, res(hi_t), True


def target_bounds(gated_targets: list[int]) -> tuple[int, int]:
    """Search range for T: from 1/8 of the fastest gated target to 8x its slowest."""
    return max(1, min(gated_targets) // 8), max(gated_targets) * 8
