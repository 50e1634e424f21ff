"""Counters of a fast-engine run, computed in bulk from its event arrays.

The stepper counts the same things cycle by cycle; the definitions (docs/simulator.md) are
chosen so that both are closed forms of the per-beat constraint times: a beat whose earliest
cycle without back-pressure is e and which moved at x was blocked x - e cycles, and so on.

Every counter is a sum or a maximum over beats, so it is computed over blocks of about CHUNK
beats (whole frames) at a time: temporaries stay small and in cache instead of being arrays of
tens of millions of beats that the kernel has to map and zero for every numpy operation (that
paging, not the arithmetic, was most of the cost of a 10k-frame run). The event arrays may be
int32 (sim.fast); every sum is taken over int64 block temporaries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from sim.errors import BufferOverflowError
from sim.fast import NEG, FastEngine, NodeState, SegState
from sim.result import RunResult

# Beats per block: large enough that the per-block Python overhead is small, small enough that
# a block's few temporaries stay in the cache.
CHUNK = 1 << 15

# rows [a, b) of a frame-major stream -> (event cycles, earliest cycles), both [b - a, width]
Rows = Callable[[int, int], tuple[np.ndarray, np.ndarray]]


def merge_finish(arrival: np.ndarray, exit_index: np.ndarray) -> np.ndarray:
    """Output merge: one result per cycle, earliest arrival first, ties to the lower exit."""
    order = np.lexsort((exit_index, arrival))
    i = np.arange(len(order), dtype=np.int64)
    emit = np.maximum.accumulate(arrival[order] - i) + i
    finish = np.empty_like(arrival)
    finish[order] = emit
    return finish


def _blocks(rows: int, width: int) -> Iterator[tuple[int, int]]:
    """Row ranges of about CHUNK beats (at least one row)."""
    step = max(1, CHUNK // max(width, 1))
    for a in range(0, rows, step):
        yield a, min(rows, a + step)


def _exact_held(writes: np.ndarray, reads: np.ndarray) -> tuple[int, int]:
    """Two binary searches per write: exact for any sorted input, slow on long streams."""
    held = np.searchsorted(writes, writes, side="right") - np.searchsorted(
        reads, writes, side="right"
    )
    g = int(np.argmax(held))
    return int(held[g]), g


def _above(writes: np.ndarray, reads: np.ndarray, a: int, b: int, h: int) -> np.ndarray:
    """held[g] > h for writes g in [max(a, h), b): read g - h comes after write g.

    With strictly increasing writes, held[g] = g + 1 - #(reads <= writes[g]), and for sorted
    reads #(reads <= w) <= g - h exactly when reads[g - h] > w.
    """
    g0 = max(a, h)
    return reads[g0 - h : b - h] > writes[g0:b]


def max_occupancy(writes: np.ndarray, reads: np.ndarray) -> tuple[int, int]:
    """(max beats held, index of the first write that reached it); writes and reads sorted.

    Max held is 1 + the largest h with some held[g] > h; that predicate is monotone in h, so
    each block only checks whether it beats the best so far (one compare per beat) and
    gallops up when it does. Falls back on the binary searches when writes repeat a cycle
    (the merge) or the streams differ in length.
    """
    n = len(writes)
    if n == 0:
        return 0, -1
    if len(reads) != n:
        return _exact_held(writes, reads)
    best, where = -1, -1  # largest h with held > h so far, and the block that reached it
    for a in range(0, n, CHUNK):
        b = min(n, a + CHUNK)
        if np.any(writes[a + 1 : b] <= writes[a : b - 1]) or (a and writes[a] <= writes[a - 1]):
            return _exact_held(writes, reads)
        lo = best + 1
        if lo >= b or not _above(writes, reads, a, b, lo).any():
            continue
        step = 1
        while lo + step < b and _above(writes, reads, a, b, lo + step).any():
            lo += step
            step *= 2
        hi = min(lo + step, b)  # held > hi nowhere in the block
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _above(writes, reads, a, b, mid).any():
                lo = mid
            else:
                hi = mid
        best, where = lo, a
    if best < 0:
        return _exact_held(writes, reads)  # nothing ever held: a broken stream, count it slowly
    b = min(n, where + CHUNK)
    g = max(where, best) + int(np.argmax(_above(writes, reads, where, b, best)))
    return best + 1, g


def _paced(ev: np.ndarray, prev_last: np.ndarray, gaps: np.ndarray, first: int) -> np.ndarray:
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


def _prev_last(a: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Last column of the rows before rows [lo, hi) of a 2D event array."""
    return a[max(lo - 1, 0) : hi - 1, -1]


class _Collector:
    def __init__(self, eng: FastEngine) -> None:
        self.eng = eng
        self.occ: dict[str, int] = {}
        self.stalls: dict[str, dict[str, int]] = {}
        self.blocked_by: dict[str, dict[str, int]] = {}

    def fifo(
        self,
        name: str,
        depth: int,
        writes: np.ndarray,
        reads: np.ndarray,
        frames: np.ndarray,
        beats: int,
    ) -> None:
        held, g = max_occupancy(writes, reads)
        self.occ[name] = held
        if held > depth:
            raise BufferOverflowError(name, int(frames[g // beats]), int(writes[g]), held, depth)

    def reader(self, node: NodeState, avail: Callable[[int, int], np.ndarray]) -> None:
        """starved: cycles a read was due but its beat absent; full: due and present, but K
        frames in flight. avail(a, b): cycle each beat of rows [a, b) is readable from."""
        t = node.t
        gaps = np.concatenate([[t.rgap0], np.diff(t.in_off)])
        starved = full = 0
        for a, b in _blocks(len(node.R), t.in_beats):
            r = node.R[a:b]
            p = _paced(r, _prev_last(node.R, a, b), gaps, 0)
            d = avail(a, b)
            x = np.minimum(d, r)
            x -= p
            starved += int(np.maximum(x, 0, out=x).sum())
            np.maximum(p, d, out=x)
            np.subtract(r, x, out=x)
            full += int(np.maximum(x, 0, out=x).sum())
        self.stalls[t.name] = {"blocked": 0, "full": full, "starved": starved}

    def writer(
        self, name: str, n: int, width: int, rows: Rows, cons: list[tuple[str, np.ndarray, int]]
    ) -> None:
        """blocked: cycles from a beat's earliest cycle without back-pressure to its write;
        blocked_by a consumer: the part of that before the consumer's FIFO had room."""
        blocked = 0
        by = dict.fromkeys((link for link, _, _ in cons), 0)
        for a, b in _blocks(n, width):
            x2, e2 = rows(a, b)
            x, e = x2.reshape(-1), e2.reshape(-1)
            blocked += int(np.subtract(x, e, dtype=np.int64).sum())
            ga, gb = a * width, b * width
            for link, reads, depth in cons:
                lo = max(ga, depth)  # write g < depth always finds room
                if lo >= gb:
                    continue
                # room for write g from read g - depth + 1
                s = np.add(reads[lo - depth : gb - depth], 1, dtype=np.int64)
                np.minimum(s, x[lo - ga :], out=s)
                s -= e[lo - ga :]
                by[link] += int(np.maximum(s, 0, out=s).sum())
        self.stalls[name]["blocked"] += blocked
        by = {k: v for k, v in by.items() if v}
        if by:
            self.blocked_by[name] = by

    def node_writer(self, node: NodeState, cons: list[tuple[str, np.ndarray, int]]) -> None:
        t = node.t
        gaps = np.concatenate([[t.wgap0], np.diff(t.out_off)])

        def rows(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
            w = node.W[a:b]
            e = _paced(w, _prev_last(node.W, a, b), gaps, NEG)
            data = np.add(node.R[a:b][:, t.dep], t.dlat, dtype=np.int64)
            return w, np.maximum(e, data, out=e)

        self.writer(t.name, len(node.W), t.out_beats, rows, cons)


def _cbuf_rows(st: SegState, cont: np.ndarray) -> Rows:
    """Release times of the continuing frames and their earliest cycles: stored, after the
    take (first beat) or the previous beat (others)."""
    stage_w = st.stage[-1].W

    def rows(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        idx = cont[a:b]
        lv = st.LV[idx]
        e = np.empty(lv.shape, np.int64)
        e[:, 0] = st.F[idx]
        e[:, 1:] = lv[:, :-1]
        np.maximum(e, stage_w[idx], out=e)
        e += 1
        return lv, e

    return rows


def _released(lv: np.ndarray, cont: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """Cycle each beat released into the next segment is readable from, by released row."""
    return lambda a, b: np.add(lv[cont[a:b]], 1, dtype=np.int64)


def fast_result(eng: FastEngine) -> RunResult:
    """RunResult of a finished FastEngine (raises BufferOverflowError on an engine bug)."""
    col = _Collector(eng)
    ex = eng.exit_index
    segs: list[SegState] = eng.segs
    first_beat = eng.arrival + 1

    def dma(a: int, b: int) -> np.ndarray:
        """The DMA: only a frame's first beat waits (for its arrival)."""
        d = np.full((b - a, segs[0].stage[0].t.in_beats), NEG, np.int64)
        d[:, 0] = first_beat[a:b]
        return d

    avail: Callable[[int, int], np.ndarray] = dma
    for k, st in enumerate(segs):
        s = st.seg
        seq = eng.sequence(k)
        # (writer, reader, link) of every FIFO inside the segment
        pairs = [
            (st.stage[i], st.stage[i + 1], s.stage_links[i + 1]) for i in range(len(st.stage) - 1)
        ]
        pairs.append((st.stage[-1], st.branch[0], s.branch_links[0]))
        pairs += [
            (st.branch[i], st.branch[i + 1], s.branch_links[i + 1])
            for i in range(len(st.branch) - 1)
        ]
        col.reader(st.stage[0], avail)
        for w, r, link in pairs:
            col.reader(r, lambda a, b, w=w: np.add(w.W[a:b], 1, dtype=np.int64))
            col.fifo(link.name, link.depth, w.Wf, r.Rf, seq, w.O)
        for node in (*st.stage, *st.branch):
            cons = [(ln.name, r.Rf, ln.depth) for w, r, ln in pairs if w is node]
            if node is st.stage[-1] and s.cbuf is not None:
                cons.append((s.cbuf.name, st.LVf, s.cbuf.capacity))
            if node is st.branch[-1] and s.verdict is not None:
                cons.append((s.verdict.name, st.F, s.verdict.depth))
                col.fifo(s.verdict.name, s.verdict.depth, node.Wf, st.F, seq, 1)
            col.node_writer(node, cons)
        if s.cbuf is None:
            continue
        stage_w = st.stage[-1].W
        col.fifo(s.cbuf.name, s.cbuf.capacity, stage_w.reshape(-1), st.LVf, seq, st.B)
        col.occ[f"{s.cbuf.name}.frames"], _ = max_occupancy(stage_w[:, 0], st.LV[:, -1])
        cont = np.flatnonzero(ex[seq] > k)
        col.stalls[s.cbuf.name] = {"blocked": 0, "full": 0, "starved": 0}
        link = eng.model.segments[k + 1].stage_links[0]
        nxt = segs[k + 1].stage[0]
        rows = _cbuf_rows(st, cont)
        col.writer(s.cbuf.name, len(cont), st.B, rows, [(link.name, nxt.Rf, link.depth)])
        # the next segment's input FIFO: released beats in, its first node's reads out
        released = st.LV[cont].reshape(-1)
        col.fifo(link.name, link.depth, released, nxt.Rf, seq[cont], st.B)
        avail = _released(st.LV, cont)
    finish = merge_finish(eng.merge_arrival, ex)
    col.occ["merge"], _ = max_occupancy(np.sort(eng.merge_arrival - 1), np.sort(finish))
    return RunResult(
        exit_index=ex.copy(),
        arrival=eng.arrival.copy(),
        start=eng.start(),
        finish=finish,
        max_occupancy=col.occ,
        stalls=col.stalls,
        blocked_by=col.blocked_by,
        extra={"engine": eng},
    )
