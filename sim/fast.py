"""Fast engine: the earliest-firing times of every beat, frame by frame, as max-plus recurrences.

Every rule of docs/simulator.md is an inequality "event >= other event + constant"; the cycle
of an event is the least solution, which is what the stepper finds cycle by cycle. Here a
process's beats within one frame are a recurrence x[j] = max(x[j-1] + gap[j], c[j]), solved in
one vector step as x = off + cummax(c - off). Frames are processed in id order, segment by
segment: every constraint points to the same or an earlier frame, and the only same-frame
feedback (a FIFO shallower than a frame: the writer's beat k waits for the reader's beat k-D) is
resolved by re-solving the writer until the reader's times stop moving (monotone, so it ends).

Event arrays are stored as int32 while every cycle stays below CYCLE_LIMIT32, int64 otherwise,
and a long run keeps only a window of them (the current block of frames plus the look-back any
rule reads, sim.stats counting each block before it slides out): a 10k-frame run of fmnist3 has
about 280 million events (1.1 GB of int32), and on a VM that hands freed pages back to its host
first touching that memory cost 1-3.5 s, more than the arithmetic on it. Rows are checked
before they are stored (every row is non-decreasing, so its last cycle is its largest); a run
that reaches the limit is redone in int64, so the cycles are the same either way.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

from exitflow.sim.errors import DeadlockError
from exitflow.sim.fast_freeze import solve_freeze
from exitflow.sim.fast_rows import (
    NEG,
    NodeState,
    _check,
    _Consumer,
    _CycleOverflow,
    _write,
    _write_nodes,
)
from exitflow.sim.model import Model, Segment

__all__ = ["CYCLE_LIMIT32", "NEG", "FastEngine", "NodeState", "SegState"]

# Largest cycle stored in int32 (10.7 s at 100 MHz): the margin below 2**31 keeps readers that
# add small constants (a gap, + 1) to stored cycles in int32 exact.
CYCLE_LIMIT32 = 1 << 30
# Frames per block of a windowed run: rows of a block plus the look-back are all it stores
# (a few tens of MB for fmnist3), small enough to stay mapped, large enough that the per-block
# Python work is small against the frames'.
BLOCK_FRAMES = 256

log = logging.getLogger(__name__)


class SegState:
    """Engine state of one segment."""

    def __init__(self, seg: Segment, n: int, dtype: type, limit: int) -> None:
        self.seg = seg
        self.org = 0  # logical row of physical row 0 (sim.fast_rows)
        self.stage = [NodeState(t, n, dtype, limit) for t in seg.stage]
        self.branch = [NodeState(t, n, dtype, limit) for t in seg.branch]
        b = seg.stage[-1].out_beats
        self.B = b
        self.limit = limit
        self.F: np.ndarray = np.zeros(n, dtype)  # cycle the buffer takes the frame's decision
        self.LV: np.ndarray = np.zeros(
            (n, b), dtype
        )  # cycle each stored beat leaves (released/dropped)
        self.LVf = self.LV.reshape(-1)
        self.ar: np.ndarray = np.arange(b, dtype=dtype)
        self.c: np.ndarray = np.empty(b, dtype)  # release bounds, reused every frame
        self.fwd_count = 0  # frames released into the next segment so far
        # load shedding: the stored frames' leave rows (recent ones) and decision takes
        self.admitted: np.ndarray = np.ones(n, bool)  # per row: stored in the buffer
        self.stored_lv: list[np.ndarray] = []
        self.stored_f: list[int] = []
        self.cur_stored = -1  # stored index of the frame being solved, -1 when shed
        self.stage_cons: list[list[_Consumer]] = []
        self.branch_cons: list[list[_Consumer]] = []
        self.next_cons: list[_Consumer] = []
        self.rel: tuple[int, int, int] = (0, 0, 0)  # the last release: row, take, next row


class _ShedVerdict(_Consumer):
    """The decision FIFO of a shedding segment, as its decision unit sees it: only stored
    frames send their verdict, so a frame's word waits for the take of the stored frame
    `depth` verdicts earlier; a shed frame's word goes to the merge alone."""

    def __init__(self, st: SegState, depth: int) -> None:  # (no reads array: see prev)
        self.st, self.depth, self.node, self.head1 = st, depth, None, None

    def prev(self, idx: int, c: np.ndarray) -> None:
        s = self.st.cur_stored
        if s >= self.depth:
            c[0] = max(int(c[0]), self.st.stored_f[s - self.depth] + 1)


class FastEngine:
    """Computes every beat's cycle for one exit sequence and arrival process.

    window None keeps every frame's rows (trace, plots, tests read them afterwards); otherwise
    the run goes in blocks of `block` frames and keeps only the block plus max(window,
    lookback(model)) earlier rows per segment: a collector (sim.stats) reads each block's rows
    before they slide out. A 10k-frame run then touches tens of MB instead of about 1 GB, whose
    first touch on this VM cost 1-3.5 s, more than the arithmetic.
    """

    def __init__(
        self,
        model: Model,
        exit_index: np.ndarray,
        arrival: np.ndarray,
        window: int | None = None,
        block: int = BLOCK_FRAMES,
    ) -> None:
        self.model = model
        self.exit_index = np.asarray(exit_index, np.int64)
        self.arrival = np.asarray(arrival, np.int64)
        self.keep = window is None
        self.hist = 0 if window is None else max(window, lookback(model))
        self.block = max(1, block)
        self._build(np.int32, CYCLE_LIMIT32)

    def _build(self, dtype: type, limit: int) -> None:
        """Fresh event arrays of dtype (cycles up to limit) and the FIFOs between them."""
        model = self.model
        self.dtype = dtype
        e = model.num_exits
        reach = [int((self.exit_index >= k).sum()) for k in range(e)]
        rows = reach if self.keep else [min(r, self.hist + self.block) for r in reach]
        self.segs = [SegState(s, rows[k], dtype, limit) for k, s in enumerate(model.segments)]
        for k, st in enumerate(self.segs):
            s = st.seg
            for i in range(len(s.stage)):
                if i + 1 < len(s.stage):
                    nxt = st.stage[i + 1]
                    o = s.stage[i].out_beats
                    st.stage_cons.append([_Consumer(nxt.Rf, s.link_into(i + 1).depth, o, nxt, nxt)])
                    continue
                b0 = st.branch[0]
                cons = [_Consumer(b0.Rf, s.branch_links[0].depth, st.B, b0, b0)]
                # A buffer shallower than a frame deadlocks at its first frame (run() raises).
                # A shedding buffer never back-pressures (a frame without room is not stored).
                if s.cbuf is not None and s.cbuf.capacity >= st.B and not model.shedding:
                    cons.append(_Consumer(st.LVf, s.cbuf.capacity, st.B, st))
                st.stage_cons.append(cons)
            for i in range(len(s.branch)):
                if i + 1 < len(s.branch):
                    nxt = st.branch[i + 1]
                    o = s.branch[i].out_beats
                    link = s.branch_links[i + 1]
                    st.branch_cons.append([_Consumer(nxt.Rf, link.depth, o, nxt, nxt)])
                elif s.verdict is not None and model.shedding:
                    st.branch_cons.append([_ShedVerdict(st, s.verdict.depth)])
                elif s.verdict is not None:
                    st.branch_cons.append([_Consumer(st.F, s.verdict.depth, 1, st)])
                else:
                    st.branch_cons.append([])
            if k + 1 < e:
                n0 = self.segs[k + 1].stage[0]
                link = model.segments[k + 1].link_into(0)
                st.next_cons = [_Consumer(n0.Rf, link.depth, st.B, n0, n0)]
        self.merge_arrival = np.zeros(len(self.exit_index), np.int64)
        self.eff = self.exit_index.copy()  # the exit each frame leaves at (shedding moves it)
        self.shed = np.zeros(len(self.exit_index), bool)

    def _deadlock(self, f: int, k: int) -> None:
        """A buffer smaller than a frame can never hold the frame its decision waits for."""
        st = self.segs[k]
        cap, name = st.seg.buffer().capacity, st.seg.buffer().name
        node = st.stage[-1]
        t = node.t
        # Blocked from the cycle beat `cap` is due (pacing) and its data is there.
        ready = int(node.R[0, t.dep[cap]] + t.dlat[cap])
        if cap and t.wslack:  # pacing with catch-up (NodeTiming.wslack)
            top = int((node.W[0, :cap] - t.out_rel[:cap]).max()) + int(t.out_rel[cap]) - t.wslack
            ready = max(ready, int(node.W[0, cap - 1]) + t.wgmin, top)
        elif cap:
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

    def _admit(self, st: SegState, p: int) -> None:
        """Load shedding: the frame is stored iff, at the start of the cycle its first beat is
        written, the buffer holds at most capacity - B beats (stored beat G + B - 1 - capacity,
        G the beats stored so far, has left before that cycle)."""
        g = len(st.stored_f) * st.B + st.B - 1 - st.seg.buffer().capacity
        ok = g < 0
        if not ok and g < len(st.stored_f) * st.B:
            back = len(st.stored_f) - g // st.B
            ok = int(st.stored_lv[-back][g % st.B]) < int(st.stage[-1].W[p, 0])
        st.admitted[p] = ok
        st.cur_stored = len(st.stored_f) if ok else -1

    def _frame_segment(self, f: int, k: int, phi: int) -> bool:
        """Solve frame f (row phi) in segment k; False when it leaves here (exit or shed)."""
        st = self.segs[k]
        s = st.seg
        p = phi - st.org
        if k == 0:
            st.stage[0].read_dma(phi, int(self.arrival[f]) + 1)
        _write_nodes(st.stage, st.stage_cons, phi)
        if len(st.stage) == 1 and st.stage[0].fzs is not None:
            solve_freeze(self, f, k, phi)
        shedding = self.model.shedding and s.cbuf is not None
        if shedding:
            self._admit(st, p)
        elif s.cbuf is not None and s.cbuf.capacity < st.B:
            self._deadlock(f, k)
        _write_nodes(st.branch, st.branch_cons, phi)
        last = st.branch[-1]
        if s.cbuf is None:
            self.merge_arrival[f] = int(last.W[p, -1]) + 1
            return False
        dec = int(last.W[p, 0])
        if shedding and not st.admitted[p]:
            self.shed[f] = True
            self.eff[f] = k
            self.merge_arrival[f] = dec + 1
            return False
        take = dec + 1
        if shedding and st.stored_lv:
            take = max(take, int(st.stored_lv[-1][-1]) + 1)
        elif phi and not shedding:
            take = max(take, int(st.LV[p - 1, -1]) + 1)
        stored = int(st.stage[-1].W[p, -1]) + 1
        if self.exit_index[f] == k:
            drop = max(take + 1, stored)
            if drop >= st.limit:  # (take < drop: F is checked with it)
                raise _CycleOverflow
            st.F[p] = take
            st.LV[p] = drop
            self.merge_arrival[f] = dec + 1
            self._stored(st, p, shedding)
            return False
        psi = st.fwd_count
        st.fwd_count += 1
        c = np.add(st.stage[-1].W[p], 1, out=st.c)
        if c[0] < take + 1:
            c[0] = take + 1
        st.rel = (p, take, psi)
        self.release_rows(st)
        st.F[p] = take
        self._stored(st, p, shedding)
        return True

    @staticmethod
    def release_rows(st: SegState) -> None:
        """The buffer's release of its current frame into the next segment (st.rel)."""
        p, take, psi = st.rel
        c = np.add(st.stage[-1].W[p], 1, out=st.c)
        if c[0] < take + 1:
            c[0] = take + 1
        _write(c, st.ar, st.next_cons, psi, st.LV[p])
        _check(st.LV[p], st.limit)  # (take < every release: F is checked with it)

    @staticmethod
    def _stored(st: SegState, p: int, shedding: bool) -> None:
        """Remember a stored frame's leave row and take (the rows shedding looks back at)."""
        if not shedding:
            return
        st.stored_lv.append(st.LV[p].copy())
        st.stored_f.append(int(st.F[p]))
        keep = -(-st.seg.buffer().capacity // st.B) + 2
        if len(st.stored_lv) > 2 * keep:  # (stored_f stays whole: the verdict FIFO reads it)
            del st.stored_lv[:keep]

    def run(self, collector: Collector | None = None) -> FastEngine:
        """Simulate every frame; returns self (with every row when not windowed)."""
        try:
            self._run(collector)
        except _CycleOverflow:
            log.info("cycles beyond %d: event arrays redone in int64", CYCLE_LIMIT32)
            self._release()
            self.segs = []  # the int32 arrays go before the int64 ones come
            self._build(np.int64, 1 << 62)
            self._run(collector)
        finally:
            self._release()
        return self

    def _release(self) -> None:
        """Drop the FIFO consumers. A consumer whose reader is its own segment refers back to
        the SegState holding it: without this, every run's event arrays wait for the cyclic
        garbage collector, and buffer sizing (hundreds of runs) grew to 1.7 GB instead of 0.15."""
        for st in self.segs:
            st.stage_cons, st.branch_cons, st.next_cons = [], [], []

    def _run(self, collector: Collector | None) -> None:
        if collector is not None:
            collector.begin(self)  # (again after an int64 redo: counts start over)
        counters = [0] * len(self.segs)
        exits = self.exit_index.tolist()
        step = max(len(exits), 1) if self.keep else self.block
        for a in range(0, len(exits), step):
            for f in range(a, min(a + step, len(exits))):
                for k in range(exits[f] + 1):
                    more = self._frame_segment(f, k, counters[k])
                    counters[k] += 1
                    if not more:
                        break
            if collector is not None:
                collector.block(self, counters)
            if not self.keep:
                self._slide(counters)

    def _slide(self, counters: list[int]) -> None:
        """Keep the last `hist` rows of each segment at the front of its arrays."""
        for st, done in zip(self.segs, counters):
            org = done - self.hist
            if org <= st.org:
                continue
            shift = org - st.org
            arrays = [st.F, st.LV] + [a for n in (*st.stage, *st.branch) for a in (n.R, n.W)]
            for arr in arrays:
                arr[: self.hist] = arr[shift : shift + self.hist]
            st.org = org
            for node in (*st.stage, *st.branch):
                node.org = org

    # views used by reports and statistics ---------------------------------------------------
    def start(self) -> np.ndarray:
        """Cycle each frame's first beat is read by the first node (every row kept only)."""
        return self.segs[0].stage[0].R[:, 0].astype(np.int64)

    def sequence(self, k: int) -> np.ndarray:
        """Frame ids reaching segment k, in order."""
        return np.flatnonzero(self.exit_index >= k)


class Collector(Protocol):
    """Reads each block's rows while they are in the window (sim.stats)."""

    def begin(self, eng: FastEngine) -> None: ...

    def block(self, eng: FastEngine, counters: list[int]) -> None: ...


def _rows_back(depth: int, width: int) -> int:
    """Rows of a stream of `width` beats a row that a look-back of `depth` beats reaches."""
    return -(-depth // max(width, 1)) + 1


def lookback(model: Model) -> int:
    """Rows before the current one any rule or counter reads: frames in flight, FIFO and buffer
    depths (in the reader's rows), plus margin (the previous row, the row being solved)."""
    rows = 2
    for k, s in enumerate(model.segments):
        nodes = (*s.stage, *s.branch)
        rows = max(rows, *(t.inflight + 1 for t in nodes))
        first = 0 if k else 1  # the first segment's first node reads the DMA
        links = [(s.link_into(i), s.stage[i]) for i in range(first, len(s.stage))]
        links += list(zip(s.branch_links, s.branch))
        rows = max(rows, *(_rows_back(ln.depth, t.in_beats) for ln, t in links))
        if s.cbuf is not None:
            rows = max(rows, _rows_back(s.cbuf.capacity, s.stage[-1].out_beats))
        if s.verdict is not None:
            rows = max(rows, _rows_back(s.verdict.depth, 1))
    return rows + 2
