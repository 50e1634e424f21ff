"""What a stage's pair run (the stage with its exit head, `measure.measure_stage_with_head`,
beats recorded) says about the stage when its head holds it: how its writes catch up, how far
its reads go on and what each held read waits for (docs/simulator.md, "Measured RTL timing")."""

from __future__ import annotations

import numpy as np

from exitflow.sim.rtl_timing import PartitionTiming

__all__ = ["held_reads", "read_freeze", "read_slack", "write_slack"]


def read_freeze(reads: np.ndarray, writes: np.ndarray, stage: PartitionTiming) -> int:
    """How many cycles of its saturated schedule a stage's reads go on behind a held write: from
    the pair's longest read hold in its last frame behind a write of the same frame (reads,
    writes: [frames, words], the first narrow word of each read where an elem_dwc feeds it),
    the s with which NodeTiming's freeze rule (sim.model_sched.freeze_bounds) gives that read
    exactly. 0 when no read waits behind a write of its own frame. (Reads behind the previous
    frame's writes wait as with s = 0: the saturated schedule places those writes only
    roughly.)"""
    i = np.asarray(stage.in_offsets, np.int64)
    o = np.asarray(stage.out_offsets, np.int64) - i[0]
    i = i - i[0]
    r, w = reads[-1], writes[-1]
    k = np.searchsorted(w, r[1:]) - 1  # the frame's last write before read j (j >= 1)
    hold = np.where(k >= 0, np.diff(r) - np.diff(i), np.iinfo(np.int64).min)
    if not (k >= 0).any():
        return 0
    j = int(hold.argmax()) + 1
    kj = int(k[j - 1])
    return max(0, int(i[j] - o[kj] - (r[j] - w[kj])))


def held_reads(
    reads: np.ndarray, writes: np.ndarray, stage: PartitionTiming
) -> tuple[tuple[int, int, int], ...]:
    """The reads of the pair's last frame held beyond their saturated gap behind a write of
    the same frame, as (read j, the frame's last write k before it, cycles after it): what the
    stage's layer buffers make each held read wait for (sim.model_sched.held_bounds).

    reads: [frames, words] of the stage's own input; where the top feeds it through an
    elem_dwc of m narrow words per read, the top's read j >= 1 is taken in the cycle the
    converter passes narrow word m*(j-1) (fmnist3 stage1, probe_top: every read of 150 frames),
    so that is the read's cycle here (read 0 is not seen there: read 1 counts as not held)."""
    i = np.asarray(stage.in_offsets, np.int64)
    m = reads.shape[1] // len(i)
    r = np.asarray(reads[-1], np.int64)
    if m > 1 and len(i) > 1:
        r = r[m * np.arange(len(i) - 1)]
        r = np.concatenate([r[:1] - (i[1] - i[0]), r])
    w = np.asarray(writes[-1], np.int64)
    hold = np.diff(r) - np.diff(i)
    out = []
    for j in np.flatnonzero(hold > 0) + 1:
        k = int(np.searchsorted(w, r[j]) - 1)
        if k >= 0:
            out.append((int(j), k, int(r[j] - w[k])))
    return tuple(out)


def write_slack(writes: np.ndarray, out_offsets: tuple[int, ...]) -> int:
    """How many cycles a frame's writes ran ahead of their saturated pattern, seen from any
    earlier write of the frame (after a hold they catch up that much: NodeTiming.wslack)."""
    u = np.asarray(writes, np.int64) - np.asarray(out_offsets, np.int64)
    if len(u) < 2:
        return 0
    return int(max(0, (np.maximum.accumulate(u)[:-1] - u[1:]).max()))


def read_slack(reads: np.ndarray) -> int:
    """How many cycles a held frame's reads ran ahead of the first frame's pattern (an empty
    pipeline, not yet held), seen from any earlier read of the frame, over the held frames
    (reads: [frames, words] of a pair run): after a hold a FINN stage's reads resume their own
    schedule where they stopped (fmnist3: 0 for every stage) instead of catching up."""
    r = np.asarray(reads, np.int64)
    u = (r[1:] - r[1:, :1]) - (r[0] - r[0, 0])
    if u.shape[1] < 2:
        return 0
    return int(max(0, (np.maximum.accumulate(u, axis=1)[:, :-1] - u[:, 1:]).max()))
