"""Fast engine: the earliest-firing times of every beat, frame by frame, as max-plus recurrences.

Every rule of docs/simulator.md is an inequality "event >= other event + constant"; the cycle
of an event is the least solution, which is what the stepper finds cycle by cycle. Here a
process's beats within one frame are a recurrence x[j] = max(x[j-1] + gap[j], c[j]), solved in
one vector step as x = off + cummax(c - off). Frames are processed in id order, segment by
segment: every constraint points to the same or an earlier frame, and the only same-frame
feedback (a FIFO shallower than a frame: the writer's beat k waits for the reader's beat k-D) is
resolved by re-solving the writer until the reader's times stop moving (monotone, so it ends).

Event arrays are stored as int32 while every cycle stays below CYCLE_LIMIT32, int64 otherwise:
a 10k-frame run holds about 150 million events, and on a VM that hands freed pages back to its
host, first touching that memory can cost more than the arithmetic on it (halving it took the
worst case from 2.7 s to 1.3 s of system time). Rows are solved in int64 scratch rows and
checked before they are stored (every row is non-decreasing, so its last cycle is its largest);
a run that reaches the limit is redone in int64, so the cycles are the same either way.
"""

from __future__ import annotations

import logging

import numpy as np

from sim.errors import DeadlockError
from sim.model import Model, NodeTiming, Segment

NEG = -(1 << 60)  # "no constraint": far below any cycle, safe to add small constants to
# Rounds of the same-frame fix-point before the exact sequential solve takes over. Two suffice
# unless a FIFO is 1 deep (the fix-point then advances one beat per round).
MAX_ROUNDS = 4
# Largest cycle stored in int32 (10.7 s at 100 MHz): the margin below 2**31 keeps readers that
# add small constants (a gap, + 1) to stored cycles in int32 exact.
CYCLE_LIMIT32 = 1 << 30

log = logging.getLogger(__name__)


class _CycleOverflow(Exception):
    """A cycle reached the int32 limit: the run is redone with int64 event arrays."""


def _check(row: np.ndarray, limit: int) -> None:
    """Raise _CycleOverflow when a just-computed non-decreasing row reaches limit.

    Rows are solved in place in the event arrays' dtype: every input row was checked below
    CYCLE_LIMIT32 and the constants added are far below 2^30, so int32 cannot wrap before this.
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


class NodeState:
    """Read and write times of one node: R [frames, in_beats], W [frames, out_beats]; its
    per-beat constants in the event dtype (int32 arithmetic moves half the bytes of int64)."""

    __slots__ = (
        "O",
        "R",
        "Rf",
        "W",
        "Wf",
        "c",
        "dep",
        "dep_id",
        "dlat",
        "in_off",
        "in_off1",
        "limit",
        "out_rel",
        "t",
    )

    def __init__(self, t: NodeTiming, n: int, dtype: type, limit: int) -> None:
        self.t = t
        self.O = t.out_beats
        self.R = np.zeros((n, t.in_beats), dtype)
        self.W = np.zeros((n, t.out_beats), dtype)
        self.Rf = self.R.reshape(-1)
        self.Wf = self.W.reshape(-1)
        self.limit = limit
        self.c = np.empty(t.out_beats, dtype)  # the write side's bounds, reused every frame
        self.in_off = t.in_off.astype(dtype)
        self.in_off1 = self.in_off - 1  # a beat written at x is readable from x + 1
        self.out_rel = t.out_rel.astype(dtype)
        self.dlat = t.dlat.astype(dtype)
        self.dep = t.dep.astype(np.intp)
        # output beat k depends on input beat k (same beat counts): a plain add, no gather
        self.dep_id = t.in_beats == t.out_beats and bool((t.dep == np.arange(t.out_beats)).all())

    def first_bound(self, phi: int) -> int:
        """Earliest read of frame phi's first beat: pacing after the last frame, frames in flight."""
        t = self.t
        if not phi:
            return NEG
        x0 = int(self.R[phi - 1, -1]) + t.rgap0
        if phi >= t.inflight:
            x0 = max(x0, int(self.W[phi - t.inflight, -1]) + 1)
        return x0

    def read_dma(self, phi: int, avail: int) -> None:
        """Row phi of R when only beat 0 waits, until cycle avail (the DMA's closed form)."""
        row = np.add(self.in_off, max(self.first_bound(phi), avail), out=self.R[phi])
        _check(row, self.limit)

    def read(self, phi: int, writes: np.ndarray) -> np.ndarray:
        """Row phi of R given the cycles its input beats were written (readable one later)."""
        x0 = self.first_bound(phi)
        row = np.subtract(writes, self.in_off1, out=self.R[phi])
        if row[0] < x0:
            row[0] = x0
        _cummax(row)
        row += self.in_off
        _check(row, self.limit)
        return row


class _Consumer:
    """The reader side of a FIFO of `depth` beats, as seen by its writer of `o` beats a frame.

    `reads` is the flat array of the reader's consume cycles in stream order; `node` is set when
    the reader is a node whose row for the same frame must be solved with the writer. The
    scratch rows are allocated once: a frame's bounds cost no allocation.
    """

    __slots__ = ("depth", "flag", "head1", "node", "reads", "tmp")

    def __init__(
        self, reads: np.ndarray, depth: int, o: int, node: NodeState | None = None
    ) -> None:
        self.reads, self.depth, self.node = reads, depth, node
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
            seg = np.add(self.reads[base + lo : base + hi], 1, out=self.tmp[: hi - lo])
            np.maximum(c[lo:hi], seg, out=c[lo:hi])


def _write(
    c: np.ndarray, off: np.ndarray, cons: list[_Consumer], idx: int, out: np.ndarray
) -> None:
    """Solve a writer's row into out (its event row) against its consumers (same-frame FIFO
    feedback iterated); stores the readers' rows of frame idx on the way."""
    o = len(c)
    for k in cons:
        k.prev(idx, c)
        d = k.depth
        if k.node is not None and d < o:
            # The reader's own pacing bounds its reads from below (read j >= read 0 + in_off[j],
            # read 0 after write 0): a slower reader then needs no second round.
            r0 = max(k.node.first_bound(idx), int(c[0]) + 1)
            lim = np.add(k.head1, r0, out=k.tmp[: o - d])
            np.maximum(c[d:], lim, out=c[d:])
    x = _cumsolve(c, off, out)
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
        x = _cumsolve(c, off, out)
    out[:] = _sequential(c, off, [k for k in cons if k.node is not None], idx)


def _sequential(c: np.ndarray, off: np.ndarray, cons: list[_Consumer], idx: int) -> np.ndarray:
    """The same least solution, beat by beat: writer beat k, then every reader's beat k."""
    cl, gaps = c.tolist(), np.diff(off).tolist()
    readers = [(k.depth, k.node.first_bound(idx), np.diff(k.node.t.in_off).tolist()) for k in cons]
    ys: list[list[int]] = [[] for _ in cons]
    x: list[int] = []
    for j, cj in enumerate(cl):
        v = cj if j == 0 else max(x[j - 1] + gaps[j - 1], cj)
        for (d, _, _), y in zip(readers, ys):
            if j >= d and y[j - d] + 1 > v:
                v = y[j - d] + 1
        x.append(v)
        for (_, first, g), y in zip(readers, ys):
            y.append(max(first, v + 1) if j == 0 else max(y[j - 1] + g[j - 1], v + 1))
    for k, y in zip(cons, ys):
        if y[-1] >= k.node.limit:  # before the store: int32 could not hold it
            raise _CycleOverflow
        k.node.R[idx] = y
    return np.asarray(x, np.int64)


class SegState:
    """Engine state of one segment."""

    def __init__(self, seg: Segment, n: int, dtype: type, limit: int) -> None:
        self.seg = seg
        self.stage = [NodeState(t, n, dtype, limit) for t in seg.stage]
        self.branch = [NodeState(t, n, dtype, limit) for t in seg.branch]
        b = seg.stage[-1].out_beats
        self.B = b
        self.limit = limit
        self.F = np.zeros(n, dtype)  # cycle the buffer takes the frame's decision
        self.LV = np.zeros((n, b), dtype)  # cycle each stored beat leaves (released/dropped)
        self.LVf = self.LV.reshape(-1)
        self.ar = np.arange(b, dtype=dtype)
        self.c = np.empty(b, dtype)  # release bounds, reused every frame
        self.fwd_count = 0  # frames released into the next segment so far
        self.stage_cons: list[list[_Consumer]] = []
        self.branch_cons: list[list[_Consumer]] = []
        self.next_cons: list[_Consumer] = []


def _write_nodes(nodes: list, cons: list, phi: int) -> None:
    """Write side of each node for frame row phi: data-ready after latency, paced after the
    previous frame's last write, then back-pressured by its consumers."""
    for node, node_cons in zip(nodes, cons):
        c = node.c
        if node.dep_id:
            np.add(node.R[phi], node.dlat, out=c)
        else:
            np.take(node.R[phi], node.dep, out=c)
            c += node.dlat
        if phi:
            p = int(node.W[phi - 1, -1]) + node.t.wgap0
            if c[0] < p:
                c[0] = p
        row = node.W[phi]
        _write(c, node.out_rel, node_cons, phi, row)
        _check(row, node.limit)


class FastEngine:
    """Computes every beat's cycle for one exit sequence and arrival process."""

    def __init__(self, model: Model, exit_index: np.ndarray, arrival: np.ndarray) -> None:
        self.model = model
        self.exit_index = np.asarray(exit_index, np.int64)
        self.arrival = np.asarray(arrival, np.int64)
        self._build(np.int32, CYCLE_LIMIT32)

    def _build(self, dtype: type, limit: int) -> None:
        """Fresh event arrays of dtype (cycles up to limit) and the FIFOs between them."""
        model = self.model
        self.dtype = dtype
        e = model.num_exits
        reach = [int((self.exit_index >= k).sum()) for k in range(e)]
        self.segs = [SegState(s, reach[k], dtype, limit) for k, s in enumerate(model.segments)]
        for k, st in enumerate(self.segs):
            s = st.seg
            for i in range(len(s.stage)):
                if i + 1 < len(s.stage):
                    nxt = st.stage[i + 1]
                    o = s.stage[i].out_beats
                    st.stage_cons.append([_Consumer(nxt.Rf, s.stage_links[i + 1].depth, o, nxt)])
                    continue
                b0 = st.branch[0]
                cons = [_Consumer(b0.Rf, s.branch_links[0].depth, st.B, b0)]
                # A buffer shallower than a frame deadlocks at its first frame (run() raises).
                if s.cbuf is not None and s.cbuf.capacity >= st.B:
                    cons.append(_Consumer(st.LVf, s.cbuf.capacity, st.B))
                st.stage_cons.append(cons)
            for i in range(len(s.branch)):
                if i + 1 < len(s.branch):
                    nxt = st.branch[i + 1]
                    o = s.branch[i].out_beats
                    link = s.branch_links[i + 1]
                    st.branch_cons.append([_Consumer(nxt.Rf, link.depth, o, nxt)])
                elif s.verdict is not None:
                    st.branch_cons.append([_Consumer(st.F, s.verdict.depth, 1)])
                else:
                    st.branch_cons.append([])
            if k + 1 < e:
                n0 = self.segs[k + 1].stage[0]
                link = model.segments[k + 1].stage_links[0]
                st.next_cons = [_Consumer(n0.Rf, link.depth, st.B, n0)]
        self.merge_arrival = np.zeros(len(self.exit_index), np.int64)

    def _deadlock(self, f: int, k: int) -> None:
        """A buffer smaller than a frame can never hold the frame its decision waits for."""
        st = self.segs[k]
        cap, name = st.seg.cbuf.capacity, st.seg.cbuf.name
        node = st.stage[-1]
        t = node.t
        # Blocked from the cycle beat `cap` is due (pacing) and its data is there.
        ready = int(node.R[0, t.dep[cap]] + t.dlat[cap])
        if cap:
            ready = max(ready, int(node.W[0, cap - 1] + t.out_rel[cap] - t.out_rel[cap - 1]))
        raise DeadlockError(
            node=t.name,
            frame=f,
            cycle=ready,
            detail=(
                f"{name} holds {cap} beats, less than one frame of {st.B}: beat {cap} of the "
                f"frame can never be written, because the decision that would free {name} needs "
                f"the whole frame; give {name} at least one frame"
            ),
        )

    def _frame_segment(self, f: int, k: int, phi: int) -> None:
        st = self.segs[k]
        s = st.seg
        if k == 0:
            st.stage[0].read_dma(phi, int(self.arrival[f]) + 1)
        _write_nodes(st.stage, st.stage_cons, phi)
        if s.cbuf is not None and s.cbuf.capacity < st.B:
            self._deadlock(f, k)
        _write_nodes(st.branch, st.branch_cons, phi)
        last = st.branch[-1]
        if s.cbuf is None:
            self.merge_arrival[f] = int(last.W[phi, -1]) + 1
            return
        dec = int(last.W[phi, 0])
        take = dec + 1
        if phi:
            take = max(take, int(st.LV[phi - 1, -1]) + 1)
        stored = int(st.stage[-1].W[phi, -1]) + 1
        if self.exit_index[f] == k:
            drop = max(take + 1, stored)
            if drop >= st.limit:  # (take < drop: F is checked with it)
                raise _CycleOverflow
            st.F[phi] = take
            st.LV[phi] = drop
            self.merge_arrival[f] = dec + 1
            return
        psi = st.fwd_count
        st.fwd_count += 1
        c = np.add(st.stage[-1].W[phi], 1, out=st.c)
        if c[0] < take + 1:
            c[0] = take + 1
        _write(c, st.ar, st.next_cons, psi, st.LV[phi])
        _check(st.LV[phi], st.limit)  # (take < every release: F is checked with it)
        st.F[phi] = take

    def run(self) -> FastEngine:
        """Simulate every frame; returns self with the event arrays filled."""
        try:
            self._run()
        except _CycleOverflow:
            log.info("cycles beyond %d: event arrays redone in int64", CYCLE_LIMIT32)
            self.segs = []  # the int32 arrays go before the int64 ones come
            self._build(np.int64, 1 << 62)
            self._run()
        return self

    def _run(self) -> None:
        counters = [0] * len(self.segs)
        exits = self.exit_index.tolist()
        for f, ex in enumerate(exits):
            for k in range(ex + 1):
                self._frame_segment(f, k, counters[k])
                counters[k] += 1

    # views used by reports and statistics ---------------------------------------------------
    def start(self) -> np.ndarray:
        """Cycle each frame's first beat is read by the first node (enters the pipeline)."""
        return self.segs[0].stage[0].R[:, 0].astype(np.int64)

    def sequence(self, k: int) -> np.ndarray:
        """Frame ids reaching segment k, in order."""
        return np.flatnonzero(self.exit_index >= k)
