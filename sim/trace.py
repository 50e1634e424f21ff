"""A table of every event in a window of cycles (sim.trace_window), from the fast engine's arrays.

Columns: cycle, process, event, frame, beat. Events: `read`/`write` of a node's beats, `take`
(a conditional buffer takes a frame's decision), `release`/`drop` (a stored beat leaves), and
`result` (the output merge emits a frame).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exitflow.core.files import write_text
from exitflow.sim.fast import FastEngine, NodeState
from exitflow.sim.result import RunResult

Row = tuple[int, str, str, int, int]


def _rows(
    times: np.ndarray, frames: np.ndarray, proc: str, event: str, lo: int, hi: int
) -> list[Row]:
    """Events of a [frames, beats] time array that fall in [lo, hi]."""
    if times.size == 0:
        return []
    hit = np.argwhere((times >= lo) & (times <= hi))
    return [(int(times[f, b]), proc, event, int(frames[f]), int(b)) for f, b in hit]


def trace_rows(r: RunResult, first: int, last: int) -> list[Row]:
    """All events in cycles [first, last], sorted by cycle."""
    eng = r.extra.get("engine")
    if not isinstance(eng, FastEngine) or not eng.keep:
        raise ValueError("a trace needs the fast engine's event arrays (keep_events=True)")
    rows: list[Row] = []
    for k, st in enumerate(eng.segs):
        seq = eng.sequence(k)
        node: NodeState
        for node in (*st.stage, *st.branch):
            rows += _rows(node.R, seq, node.t.name, "read", first, last)
            rows += _rows(node.W, seq, node.t.name, "write", first, last)
        if st.seg.cbuf is not None:
            name = st.seg.cbuf.name
            rows += _rows(st.F[:, None], seq, name, "take", first, last)
            exits = eng.exit_index[seq] == k
            rows += _rows(st.LV[exits], seq[exits], name, "drop", first, last)
            rows += _rows(st.LV[~exits], seq[~exits], name, "release", first, last)
    done = np.arange(r.num_frames)
    rows += _rows(r.finish[:, None], done, "merge", "result", first, last)
    rows.sort(key=lambda row: (row[0], row[1], row[2], row[3], row[4]))
    return rows


def write_trace(r: RunResult, path: Path, first: int, last: int) -> Path:
    """Write the window as a tab-separated table."""
    lines = ["cycle\tprocess\tevent\tframe\tbeat"]
    lines += ["\t".join(map(str, row)) for row in trace_rows(r, first, last)]
    return write_text(path, "\n".join(lines) + "\n")
