"""Per-beat constants of a measured schedule (NodeTiming.from_schedule, docs/simulator.md
"Measured RTL timing"): the starved schedule's dependences and a stage's read freeze."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from exitflow.core.errors import ConfigError

__all__ = ["ModelError", "freeze_bounds", "held_bounds", "starved_deps"]


class ModelError(ConfigError):
    """A description that cannot be simulated (e.g. a port faster than one beat per cycle)."""


def freeze_bounds(
    i: np.ndarray, o: np.ndarray, ii: int, dep: np.ndarray, s: int | None
) -> dict[str, np.ndarray | None]:
    """Read j waits for the last write (previous frame's at o - ii, or this frame's) at least s
    cycles before it in the saturated schedules, by their distance less s (at least 1); a
    same-frame write whose data is read j or later binds nothing (it would wait for itself).
    A read whose last write before it (s = 0) is the previous frame's waits for that one, by
    their distance: s is measured on a hold behind a write of the same frame, and the first
    frame's schedule places the previous frame's writes only roughly (o - ii)."""
    if s is None:
        return {"fzk": None, "fzd": None}
    tw = np.concatenate([o - ii, o])
    k0 = np.searchsorted(tw, i, side="right") - 1
    k = np.searchsorted(tw, i - s, side="right") - 1
    prev = (k0 >= 0) & (k0 < len(o))
    k = np.where(prev, k0, k)
    d = np.maximum(i - tw[np.maximum(k, 0)] - np.where(prev, 0, s), 1)
    same = k >= len(o)
    k[same & (dep[np.maximum(k - len(o), 0)] >= np.arange(len(i)))] = -1
    return {"fzk": k.astype(np.int64), "fzd": d.astype(np.int64)}


def held_bounds(
    fz: dict[str, np.ndarray | None],
    held: Sequence[tuple[int, int, int]] | None,
    reads: int,
    writes: int,
    dep: np.ndarray,
) -> dict[str, np.ndarray | None]:
    """The freeze bounds with each measured held read's own: read j waits for write k of its
    frame by d. One s per stage places the reads held behind a hold by the saturated
    schedules' ratio of reads to writes, but held they go by the layers' buffers (fmnist3
    stage1: reads 826, 842, ..., 890 wait for writes 1,013, 1,077, ..., 1,269 + 4, 16 reads per
    64 writes, where the saturated schedules give 55). A write whose data is read j or later
    binds nothing (it would wait for itself)."""
    if not held:
        return fz
    k = fz["fzk"] if fz["fzk"] is not None else np.full(reads, -1, np.int64)
    d = fz["fzd"] if fz["fzd"] is not None else np.ones(reads, np.int64)
    k, d = k.copy(), d.copy()
    for j, kw, dw in held:
        if 0 < j < reads and 0 <= kw < writes and dep[kw] < j:
            k[j], d[j] = kw + writes, max(1, dw)
    return {"fzk": k, "fzd": d}


def starved_deps(
    name: str, i: np.ndarray, o: np.ndarray, starved: tuple[Sequence[int], Sequence[int]]
) -> tuple[np.ndarray, np.ndarray, int]:
    """dep, dlat of a starved schedule (no later than the saturated one allows) and the lag:
    how much later the first write after the last read comes in the saturated schedule."""
    si = np.asarray(starved[0], dtype=np.int64)
    so = np.asarray(starved[1], dtype=np.int64)
    if si.shape != i.shape or so.shape != o.shape:
        raise ModelError(
            f"node {name}: the starved schedule has {len(si)} reads and {len(so)} writes, "
            f"the saturated one {len(i)} and {len(o)}"
        )
    so, si = so - si[0], si - si[0]
    if (np.diff(si) < 1).any() or (np.diff(so) < 1).any() or so[0] < 1:
        raise ModelError(f"node {name}: the starved schedule must be strictly increasing")
    dep = np.searchsorted(si, so, side="left").astype(np.int64) - 1
    dep[-1] = len(si) - 1  # the last write follows the last read (as in `make`)
    # never above the saturated schedule's bound: it must stay reproduced exactly
    dlat = np.maximum(np.minimum(so - si[dep], o - i[dep]), 1)
    k_sat = int(np.searchsorted(o, i[-1], side="right"))
    k_st = int(np.searchsorted(so, si[-1], side="right"))
    lag = 0
    if k_sat < len(o) and k_st < len(so):
        lag = max(0, int(o[k_sat] - i[-1]) - int(so[k_st] - si[-1]))
    return dep, dlat, lag
