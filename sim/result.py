"""What a simulation run produces, whichever engine ran it: per-frame cycles and counters."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class RunResult:
    """Per-frame cycles and per-buffer/per-node counters of one run (docs/simulator.md).

    max_occupancy keys: every FIFO by link name (beats), every conditional buffer by name (beats)
    and as "<name>.frames" (frames with a beat inside), and "merge" (results queued).
    stalls: per node (and per conditional buffer's output side) "blocked" (output ready, a
    downstream buffer full), "full" (first read of a frame held back by frames in flight) and
    "starved" (read due, input empty). blocked_by: blocked cycles per node and full buffer.
    """

    exit_index: np.ndarray  # int64 [N]: the exit each frame left at (a forced exit's too)
    arrival: np.ndarray  # int64 [N]: cycle the frame is offered to the input DMA
    start: np.ndarray  # int64 [N]: cycle the first node reads the frame's first beat
    finish: np.ndarray  # int64 [N]: cycle the output merge emits the frame's result
    max_occupancy: dict[str, int]
    stalls: dict[str, dict[str, int]]
    blocked_by: dict[str, dict[str, int]]
    extra: dict[str, object] = field(default_factory=dict)  # engine-specific (event arrays)
    # bool [N]: the frame was shed (load shedding) where its policy would have continued; empty
    # when the design does not shed
    forced: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    @property
    def num_frames(self) -> int:
        return len(self.exit_index)

    @property
    def cycles(self) -> int:
        """Cycles from 0 to the last result, inclusive."""
        return int(self.finish.max()) + 1 if len(self.finish) else 0

    def timing_equal(self, other: RunResult) -> list[str]:
        """Differences in every cycle count (empty when the two runs agree exactly)."""
        diffs = []
        for name in ("exit_index", "forced", "start", "finish"):
            a, b = getattr(self, name), getattr(other, name)
            if not np.array_equal(a, b):
                bad = np.flatnonzero(a != b)
                f = int(bad[0])
                diffs.append(f"{name}: {len(bad)} frames differ, first frame {f}: {a[f]} vs {b[f]}")
        for name in ("max_occupancy", "stalls", "blocked_by"):
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                diffs.append(
                    f"{name}: " + "; ".join(f"{k}: {a.get(k)} vs {b.get(k)}" for k in keys)
                )
        return diffs
