"""Row solvers of the fast engine (sim.fast): one process's beats of one frame, in place.

Rows are addressed by their logical index (the frame's position in its segment's stream); the
arrays hold rows from `org` on, so a windowed run (sim.fast) keeps only the last few frames: a
row's physical index is its logical index minus `org`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from exitflow.sim.model import NodeTiming

NEG = -(1 << 60)  # "no constraint": far below any cycle, safe to add small constants to
# Rounds of the same-frame fix-point before the exact sequential solve takes over. Two suffice
# unless a FIFO is 1 deep (the fix-point then advances one beat per round).
MAX_ROUNDS = 4


class _CycleOverflow(Exception):
    """A cycle reached the int32 limit: the run is redone with int64 event arrays."""


def _check(row: np.ndarray, limit: int) -> None:
    """Raise _CycleOverflow when a just-computed non-decreasing row reaches limit.

    Rows are solved in place in the event arrays' dtype: every input row was checked below
    the int32 limit and the constants added are far below 2^30, so int32 cannot wrap before this.
    """
    if row[-1] >= limit:
        raise _CycleOverflow


def _cummax(d: np.ndarray) -> None:
    """d = running maximum of d, in place.

    maximum.accumulate is a scalar loop (about 3 ns a beat); in the bench-fmnist3 run 83% of
    the rows are already non-decreasing (a starved process follows its input) or bounded by
    their first beat (a process paced after the previous frame), which the vectorised max and
    compare below find at a fraction of that.
    """
    top = d.max()
    if d[0] == top:
        d.fill(top)
    elif not (d[1:] >= d[:-1]).all():
        np.maximum.accumulate(d, out=d)


def _cumsolve(c: np.ndarray, off: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out[j] = max(out[j-1] + off[j] - off[j-1], c[j]), out[0] = c[0] (off[0] == 0).

    Solved in place in out (the event row itself): no temporaries per frame and process.
    """
    np.subtract(c, off, out=out)
    _cummax(out)
    out += off
    return out


def _cumsolve_slack(
    c: np.ndarray, off: np.ndarray, out: np.ndarray, slack: int, gmin: int
) -> np.ndarray:
    """out[j] = max(c[j], out[j-1] + gmin, max_{i<j}(out[i] - off[i]) + off[j] - slack).

    A write may run `slack` cycles ahead of its saturated pattern `off` as seen from any earlier
    write (docs/simulator.md, NodeTiming.wslack). With gmin <= every gap of off, out[i] - off[i]
    never rises above max(c[:i+1] - off[:i+1]) through the other two terms, so that running
    maximum is cummax(c - off) and the rest is a gmin-paced _cumsolve. slack 0: _cumsolve.
    """
    if not slack:
        return _cumsolve(c, off, out)
    m = np.subtract(c, off)
    if (m[1:] >= m[:-1]).all():  # no write held: c keeps the pattern, no rule binds
        out[:] = c
        return out
    _cummax(m)
    m[:-1] += off[1:]
    m[:-1] -= slack
    np.maximum(c[1:], m[:-1], out=out[1:])
    out[0] = c[0]
    step = np.arange(0, gmin * len(c), gmin, dtype=out.dtype)
    out -= step
    _cummax(out)
    out += step
    return out


class NodeState:
    """Read and write times of one node: R [rows, in_beats], W [rows, out_beats] holding logical
    rows org, org + 1, ...; its per-beat constants in the event dtype (int32 arithmetic moves
    half the bytes of int64)."""

    __slots__ = (
        "O",
        "R",
        "Rf",
        "W",
        "Wf",
        "anchor",
        "c",
        "dep",
        "dep_id",
        "dlat",
        "fz",
        "fzp",
        "fzs",
        "in_off",
        "in_off1",
        "limit",
        "org",
        "out_rel",
        "ranc",
        "rb",
        "t",
    )

    def __init__(self, t: NodeTiming, n: int, dtype: type, limit: int) -> None:
        self.t = t
        self.O = t.out_beats
        self.org = 0
        self.R: np.ndarray = np.zeros((n, t.in_beats), dtype)
        self.W: np.ndarray = np.zeros((n, t.out_beats), dtype)
        self.Rf = self.R.reshape(-1)
        self.Wf = self.W.reshape(-1)
        self.limit = limit
        self.c: np.ndarray = np.empty(
            t.out_beats, dtype
        )  # the write side's bounds, reused every frame
        self.in_off: np.ndarray = t.in_off.astype(dtype)
        self.in_off1 = self.in_off - 1  # a beat written at x is readable from x + 1
        self.out_rel: np.ndarray = t.out_rel.astype(dtype)
        self.dlat: np.ndarray = t.dlat.astype(dtype)
        self.dep = t.dep.astype(np.intp)
        self.anchor: np.ndarray | None = None if t.anchor is None else t.anchor.astype(dtype)
        self.ranc: np.ndarray | None = (
            None if t.read_anchor is None else t.read_anchor.astype(dtype)
        )
        # read j >= the previous frame's last read + rback[j], kept as an offset from in_off
        # (the rows are solved with in_off subtracted)
        self.rb: np.ndarray | None = None
        if t.rback is not None:
            self.rb = (t.rback - t.in_off).astype(dtype)
        # reads frozen behind writes (t.fzk): (reads, writes, distance - in_off) of the
        # previous frame's bounds and (reads, writes, distance) of the same frame's
        self.fzp: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.fzs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.fz: np.ndarray | None = None  # this frame's same-frame bounds (engine rounds)
        if t.fzk is not None and t.fzd is not None:
            o = t.out_beats
            for same in (False, True):
                j = np.flatnonzero((t.fzk >= o) if same else ((t.fzk >= 0) & (t.fzk < o)))
                if len(j):
                    k = (t.fzk[j] - o) if same else t.fzk[j]
                    d = t.fzd[j] if same else t.fzd[j] - t.in_off[j]
                    trip: tuple[np.ndarray, np.ndarray, np.ndarray] = (
                        j,
                        k.astype(np.intp),
                        d.astype(dtype),
                    )
                    self.fzs, self.fzp = (trip, self.fzp) if same else (self.fzs, trip)
        # output beat k depends on input beat k (same beat counts): a plain add, no gather
        self.dep_id = t.in_beats == t.out_beats and bool((t.dep == np.arange(t.out_beats)).all())

    def first_bound(self, phi: int) -> int:
        """Earliest read of frame phi's first beat: pacing after the last frame, frames in flight."""
        t = self.t
        if not phi:
            return NEG
        p = phi - self.org
        x0 = int(self.R[p - 1, -1]) + t.rgap0
        if t.ranchor:
            x0 = max(x0, int(self.R[p - 1, 0]) + t.ranchor)
        if phi >= t.inflight:
            x0 = max(x0, int(self.W[p - t.inflight, -1]) + 1)
        if t.rback is not None:
            x0 = max(x0, int(self.R[p - 1, -1] + t.rback[0]))
        if self.fzp is not None and self.fzp[0][0] == 0:  # before read_anchor counts from it
            x0 = max(x0, int(self.W[p - 1][self.fzp[1][0]] + self.fzp[2][0]))
        return x0

    def steady_bound(self, phi: int) -> list[int] | None:
        """Each read's bound from the previous frame (rback, fzp) and fz, in cycles."""
        if ((self.t.rback is None and self.fzp is None) or not phi) and self.fz is None:
            return None
        row = np.full(self.t.in_beats, NEG, np.int64)
        self._steady(phi, row)
        return (row + self.in_off).tolist()

    def _steady(self, phi: int, row: np.ndarray) -> None:
        """row (in_off subtracted) >= its bound after the previous frame's last read (rb),
        after the previous frame's writes (fzp) and this frame's (fz, from the engine)."""
        if self.rb is not None and phi:
            np.maximum(row, self.rb + self.R[phi - self.org - 1, -1], out=row)
        if self.fzp is not None and phi:
            j, k, d = self.fzp
            row[j] = np.maximum(row[j], self.W[phi - self.org - 1][k] + d)
        if self.fz is not None:
            np.maximum(row, self.fz, out=row)

    def read_dma(self, phi: int, avail: int) -> None:
        """Row phi of R when only beat 0 waits, until cycle avail (the DMA's closed form)."""
        off = self.in_off if self.ranc is None else self.ranc  # (ranc >= in_off)
        row = np.add(off, max(self.first_bound(phi), avail), out=self.R[phi - self.org])
        if self.rb is not None or self.fzp is not None or self.fz is not None:
            row -= self.in_off
            self._steady(phi, row)
            _cummax(row)
            row += self.in_off
        _check(row, self.limit)

    def read(self, phi: int, writes: np.ndarray) -> np.ndarray:
        """Row phi of R given the cycles its input beats were written (readable one later)."""
        x0 = self.first_bound(phi)
        row = np.subtract(writes, self.in_off1, out=self.R[phi - self.org])
        if row[0] < x0:
            row[0] = x0
        if self.ranc is not None:  # read j >= read 0 + ranc[j] (read 0 = row[0] here)
            np.maximum(row, self.ranc + row[0] - self.in_off, out=row)
        self._steady(phi, row)
        _cummax(row)
        row += self.in_off
        _check(row, self.limit)
        return row


class _RowOwner(Protocol):
    """What a consumer needs of the state that owns its reads: the first row they hold."""

    org: int


class _Consumer:
    """The reader side of a FIFO of `depth` beats, as seen by its writer of `o` beats a frame.

    `reads` is the flat array of the reader's consume cycles in stream order, from row
    owner.org on (owner: the reader's node or segment state); `node` is set when the reader is a
    node whose row for the same frame must be solved with the writer. The scratch rows are
    allocated once: a frame's bounds cost no allocation.
    """

    __slots__ = ("depth", "flag", "head1", "node", "owner", "reads", "tmp", "width")

    def __init__(
        self, reads: np.ndarray, depth: int, o: int, owner: _RowOwner, node: NodeState | None = None
    ) -> None:
        self.reads, self.depth, self.node, self.owner = reads, depth, node, owner
        self.width = node.t.in_beats if node is not None else o  # beats per row of reads
        self.tmp = np.empty(o, reads.dtype)
        self.flag = np.empty(max(o - depth, 0), bool)
        # read j - depth >= read 0 + in_off[j - depth]: the reader's pacing, + 1 for the write
        self.head1 = node.in_off[: max(o - depth, 0)] + 1 if node is not None else None

    def prev(self, idx: int, c: np.ndarray) -> None:
        """Space for beats of stream frame idx freed by earlier frames' reads: c >= read + 1."""
        o, d = len(c), self.depth
        base = idx * o - d
        lo, hi = max(0, -base), min(d, o)
        if lo < hi:
            base -= self.owner.org * self.width
            seg = np.add(self.reads[base + lo : base + hi], 1, out=self.tmp[: hi - lo])
            np.maximum(c[lo:hi], seg, out=c[lo:hi])


def _write(
    c: np.ndarray,
    off: np.ndarray,
    cons: list[_Consumer],
    idx: int,
    out: np.ndarray,
    slack: tuple[int, int] = (0, 1),
) -> None:
    """Solve a writer's row into out (its event row) against its consumers (same-frame FIFO
    feedback iterated); stores the readers' rows of frame idx on the way. slack: the writer's
    (wslack, wgmin), see _cumsolve_slack."""
    o = len(c)
    for k in cons:
        k.prev(idx, c)
        d, node, head1 = k.depth, k.node, k.head1
        if node is not None and head1 is not None and d < o:
            # The reader's own pacing bounds its reads from below (read j >= read 0 + in_off[j],
            # read 0 after write 0): a slower reader then needs no second round.
            r0 = max(node.first_bound(idx), int(c[0]) + 1)
            lim = np.add(head1, r0, out=k.tmp[: o - d])
            np.maximum(c[d:], lim, out=c[d:])
    x = _cumsolve_slack(c, off, out, *slack)
    for _ in range(MAX_ROUNDS):
        moved = False
        for k in cons:
            if k.node is None:
                continue
            row = k.node.read(idx, x)
            d = k.depth
            if d < o:
                # write g needs read g - d + 1 <= write g, i.e. read g - d < write g
                late = np.greater_equal(row[: o - d], x[d:], out=k.flag)
                if late.any():
                    # a valid lower bound (from a lower bound of the reads): keeps the solution
                    need = np.add(row[: o - d], 1, out=k.tmp[: o - d])
                    np.maximum(c[d:], need, out=c[d:])
                    moved = True
        if not moved:
            return
        x = _cumsolve_slack(c, off, out, *slack)
    out[:] = _sequential(c, off, [k for k in cons if k.node is not None], idx, slack)


def _sequential(
    c: np.ndarray, off: np.ndarray, cons: list[_Consumer], idx: int, slack: tuple[int, int]
) -> np.ndarray:
    """The same least solution, beat by beat: writer beat k, then every reader's beat k."""
    cl, gaps, offl = c.tolist(), np.diff(off).tolist(), off.tolist()
    sl, gmin = slack
    top = NEG  # max over earlier writes of write - off (the slack rule)
    nodes = [k.node for k in cons if k.node is not None]  # the caller passes node readers only
    readers = [
        (k.depth, n.first_bound(idx), np.diff(n.t.in_off).tolist()) for k, n in zip(cons, nodes)
    ]
    rancs = [None if n.ranc is None else n.ranc.tolist() for n in nodes]
    steady = [n.steady_bound(idx) for n in nodes]
    ys: list[list[int]] = [[] for _ in cons]
    x: list[int] = []
    for j, cj in enumerate(cl):
        if j == 0:
            v = cj
        elif sl:
            v = max(x[j - 1] + gmin, top + offl[j] - sl, cj)
        else:
            v = max(x[j - 1] + gaps[j - 1], cj)
        for (d, _, _), y in zip(readers, ys):
            if j >= d and y[j - d] + 1 > v:
                v = y[j - d] + 1
        x.append(v)
        top = max(top, v - offl[j])
        for (_, first, g), y, ra, sb in zip(readers, ys, rancs, steady):
            y.append(max(first, v + 1) if j == 0 else max(y[j - 1] + g[j - 1], v + 1))
            if j and ra is not None:
                y[j] = max(y[j], y[0] + ra[j])
            if sb is not None:
                y[j] = max(y[j], sb[j])
    for n, y in zip(nodes, ys):
        if y[-1] >= n.limit:  # before the store: int32 could not hold it
            raise _CycleOverflow
        n.R[idx - n.org] = y
    return np.asarray(x, np.int64)


def _write_nodes(nodes: list, cons: list, phi: int) -> None:
    """Write side of each node for frame row phi: data-ready after latency, paced after the
    previous frame's last write, then back-pressured by its consumers."""
    for node, node_cons in zip(nodes, cons):
        c = node.c
        q = phi - node.org
        if node.dep_id:
            np.add(node.R[q], node.dlat, out=c)
        else:
            np.take(node.R[q], node.dep, out=c)
            c += node.dlat
        if node.anchor is not None:  # not before the saturated schedule after the first read
            np.maximum(c, node.anchor + node.R[q, 0], out=c)
        if phi:
            p = int(node.W[q - 1, -1]) + node.t.wgap0
            if c[0] < p:
                c[0] = p
        row = node.W[q]
        _write(c, node.out_rel, node_cons, phi, row, (node.t.wslack, node.t.wgmin))
        _check(row, node.limit)
