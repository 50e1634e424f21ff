"""Beat rows of a fast-engine run as the counters (sim.stats) read them.

A process's rows hold the cycle each beat moved; the counters compare them with the earliest
cycle each could have moved without back-pressure (pacing and data). These helpers give those
rows, their pacing bounds and the sub-blocks of about CHUNK beats the counters work in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from exitflow.sim.fast import NEG, NodeState, SegState
from exitflow.sim.model import Link
from exitflow.sim.occupancy import CHUNK

__all__ = [
    "Consumer",
    "Rows",
    "flat_rows",
    "node_rows",
    "paced_bounds",
    "prev_row_last",
    "row_blocks",
    "segment_fifo_pairs",
    "shed_verdict_wait",
]

# logical rows [a, b) of a frame-major stream -> (event cycles, earliest cycles), [b - a, width]
Rows = Callable[[int, int], tuple[np.ndarray, np.ndarray]]
# (link name, reader's flat consume cycles, depth, logical beat of reads[0])
Consumer = tuple[str, np.ndarray, int, int]


def row_blocks(a: int, b: int, width: int) -> Iterator[tuple[int, int]]:
    """Row ranges of [a, b) of about CHUNK beats (at least one row)."""
    step = max(1, CHUNK // max(width, 1))
    for x in range(a, b, step):
        yield x, min(b, x + step)


def paced_bounds(ev: np.ndarray, prev_last: np.ndarray, gaps: np.ndarray, first: int) -> np.ndarray:
    """Pacing bound of each event of rows ev: the previous event of the process plus its gap.

    prev_last: the last event of the row before each row (one shorter when ev starts the
    stream; the stream's first event then gets `first`).
    """
    p = np.empty(ev.shape, np.int64)
    p[:, 1:] = ev[:, :-1] + gaps[1:]
    lead = len(ev) - len(prev_last)
    if lead:
        p[0, 0] = first
    p[lead:, 0] = prev_last + gaps[0]
    return p


def prev_row_last(a: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Last column of the rows before physical rows [lo, hi) (row lo - 1 is kept unless lo is
    the stream's first row: the window holds history)."""
    return a[max(lo - 1, 0) : hi - 1, -1]


def segment_fifo_pairs(st: SegState) -> list[tuple[NodeState, NodeState, Link]]:
    """(writer, reader, link) of every FIFO inside a segment."""
    s = st.seg
    pairs = [(st.stage[i], st.stage[i + 1], s.link_into(i + 1)) for i in range(len(st.stage) - 1)]
    pairs.append((st.stage[-1], st.branch[0], s.branch_links[0]))
    pairs += [
        (st.branch[i], st.branch[i + 1], s.branch_links[i + 1]) for i in range(len(st.branch) - 1)
    ]
    return pairs


def node_rows(node: NodeState, x0: int, y0: int) -> tuple[np.ndarray, np.ndarray]:
    """Write cycles of a node's rows [x0, y0) and the earliest each could have been written
    without back-pressure (pacing and data)."""
    t, x, y = node.t, x0 - node.org, y0 - node.org
    gaps = np.concatenate([[t.wgap0], np.diff(t.out_off)])
    w = node.W[x:y]
    e = paced_bounds(w, prev_row_last(node.W, x, y), gaps, NEG)
    if t.wslack and t.out_beats > 1:  # write k: catch-up bound (NodeTiming.wslack)
        top = np.maximum.accumulate(np.subtract(w, t.out_off, dtype=np.int64), axis=1)
        e[:, 1:] = np.maximum(w[:, :-1] + t.wgmin, top[:, :-1] + t.out_off[1:] - t.wslack)
    data = np.add(node.R[x:y][:, t.dep], t.dlat, dtype=np.int64)
    if t.anchor is not None:
        np.maximum(data, node.R[x:y][:, :1] + t.anchor, out=data)
    return w, np.maximum(e, data, out=e)


def shed_verdict_wait(
    w: np.ndarray, e: np.ndarray, sel: np.ndarray, reads: np.ndarray, depth: int
) -> int:
    """Cycles a shedding decision unit's stored frames (rows sel) waited for room in the
    decision FIFO: from their earliest cycle until the take `depth` stored verdicts earlier."""
    if len(sel) <= depth:
        return 0
    room = reads[: len(sel) - depth] + 1
    x, ee = w[sel[depth:], 0], e[sel[depth:], 0]
    return int(np.maximum(np.minimum(room, x) - ee, 0).sum())


def flat_rows(a: np.ndarray, org: int, lo: int, hi: int) -> np.ndarray:
    """Rows [lo, hi) (logical) of a 2D array holding rows from org on, flattened."""
    return a[lo - org : hi - org].reshape(-1)
