"""Counters of a fast-engine run, computed in bulk from its event arrays, block by block.

The stepper counts the same things cycle by cycle; the definitions (docs/simulator.md) are
chosen so that both are closed forms of the per-beat constraint times: a beat whose earliest
cycle without back-pressure is e and which moved at x was blocked x - e cycles, and so on.

Every counter is a sum or a maximum over beats, so the collector takes the rows of each block of
frames while a windowed engine (sim.fast) still holds them with the history they refer to, and
combines blocks exactly (sums add, maxima compare). A run that keeps every row is one block.
Inside a block, work goes in sub-blocks of about CHUNK beats (whole rows): temporaries stay
small and in cache. The event arrays may be int32 (sim.fast); sums are taken in int64.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from exitflow.sim.errors import BufferOverflowError
from exitflow.sim.fast import BLOCK_FRAMES, NEG, FastEngine, NodeState
from exitflow.sim.model import Model
from exitflow.sim.occupancy import NeedAll, StreamOcc, max_occupancy
from exitflow.sim.result import RunResult
from exitflow.sim.stats_rows import (
    Consumer,
    Rows,
    flat_rows,
    node_rows,
    paced_bounds,
    prev_row_last,
    row_blocks,
    segment_fifo_pairs,
    shed_verdict_wait,
)

__all__ = ["KEEP_FRAMES", "fast_run", "merge_finish"]

# Runs of at most this many frames keep every row (callers may read the engine's arrays):
# their memory is small, and a window would save nothing.
KEEP_FRAMES = 1024

log = logging.getLogger(__name__)


def merge_finish(arrival: np.ndarray, exit_index: np.ndarray) -> np.ndarray:
    """Output merge: one result per cycle, earliest arrival first, ties to the lower exit."""
    order = np.lexsort((exit_index, arrival))
    i = np.arange(len(order), dtype=np.int64)
    emit = np.maximum.accumulate(arrival[order] - i) + i
    finish = np.empty_like(arrival)
    finish[order] = emit
    return finish


class _Collector:
    """Counters of one run, fed each block of rows (FastEngine.run calls begin, then block)."""

    def __init__(
        self, model: Model, exit_index: np.ndarray, arrival: np.ndarray, buffers: bool
    ) -> None:
        self.model, self.ex, self.first_beat = model, exit_index, arrival + 1
        self.record = buffers
        self.seqs = [np.flatnonzero(exit_index >= k) for k in range(model.num_exits)]
        # stored rows of each shedding buffer (begin, after the run: every row is kept)
        self.sel: dict[int, np.ndarray] = {}

    def begin(self, eng: FastEngine) -> None:
        """Empty counters, created in the order the reports list them."""
        self.eng = eng
        n, segs = len(self.ex), eng.segs
        reach = [len(s) for s in self.seqs]
        self.done = [0] * len(segs)
        self.start = np.zeros(n, np.int64)
        self.occ: dict[str, int] = {}
        self.fifos: dict[str, tuple[StreamOcc, int, np.ndarray, int]] = {}
        self.stalls: dict[str, dict[str, int]] = {}
        self.by: dict[str, dict[str, int]] = {}
        self.cols: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # per-frame buffer in/out
        # every stored and leaving beat of each buffer, for the occupancy plot (sim.plots)
        self.buffers: dict[str, tuple[list[np.ndarray], list[np.ndarray], int]] = {}
        self.cont: dict[int, tuple[np.ndarray, int]] = {}  # released rows of the last block

        def fifo(name: str, depth: int, nw: int, nr: int, frames: np.ndarray, beats: int) -> None:
            self.occ[name] = 0
            self.fifos[name] = (StreamOcc(nw, nr), depth, frames, beats)

        for k, st in enumerate(segs):
            s, m = st.seg, reach[k]
            ms = m
            if self.model.shedding and s.cbuf is not None:
                self.sel[k] = np.flatnonzero(st.admitted[:m])
                ms = len(self.sel[k])
            stored = self.seqs[k][self.sel[k]] if k in self.sel else self.seqs[k]
            self.stalls[st.stage[0].t.name] = {"blocked": 0, "full": 0, "starved": 0}
            for w, r, ln in segment_fifo_pairs(st):
                self.stalls[r.t.name] = {"blocked": 0, "full": 0, "starved": 0}
                fifo(ln.name, ln.depth, m * w.O, m * r.t.in_beats, self.seqs[k], w.O)
            for node in (*st.stage, *st.branch):
                self.by[node.t.name] = {
                    ln.name: 0 for w, _, ln in segment_fifo_pairs(st) if w is node
                }
            if s.cbuf is not None:
                self.by[st.stage[-1].t.name][s.cbuf.name] = 0
            if s.verdict is not None:
                last = st.branch[-1]
                self.by[last.t.name][s.verdict.name] = 0
                fifo(s.verdict.name, s.verdict.depth, ms * last.O, ms, stored, 1)
            if s.cbuf is None:
                continue
            fifo(s.cbuf.name, s.cbuf.capacity, ms * st.B, ms * st.B, stored, st.B)
            self.occ[f"{s.cbuf.name}.frames"] = 0
            self.cols[k] = (np.zeros(ms, np.int64), np.zeros(ms, np.int64))
            self.buffers[s.cbuf.name] = ([], [], st.B)
            self.stalls[s.cbuf.name] = {"blocked": 0, "full": 0, "starved": 0}
            link, nxt = self.model.segments[k + 1].link_into(0), segs[k + 1].stage[0]
            self.by[s.cbuf.name] = {link.name: 0}
            m1 = reach[k + 1]
            fifo(link.name, link.depth, m1 * st.B, m1 * nxt.t.in_beats, self.seqs[k + 1], st.B)

    def block(self, eng: FastEngine, counters: list[int]) -> None:
        """Count the rows each segment solved since the last block."""
        for k in range(len(eng.segs)):
            if counters[k] > self.done[k]:
                self._segment(k, self.done[k], counters[k])
        self.done = list(counters)

    def _fifo(self, name: str, writes: np.ndarray, a: int, reads: np.ndarray, r0: int) -> None:
        self.fifos[name][0].add(writes, a, reads, r0)

    def _segment(self, k: int, a: int, b: int) -> None:
        st = self.eng.segs[k]
        s, org = st.seg, st.org
        first = st.stage[0]
        if k == 0:
            self.start[a:b] = first.R[a - org : b - org, 0]
            self._reader(first, a, b, self._dma)
        else:
            prev, (cont, c0) = self.eng.segs[k - 1], self.cont[k - 1]

            def released(x: int, y: int) -> np.ndarray:
                """Cycle each released beat is readable from."""
                return np.add(prev.LV[cont[x - c0 : y - c0] - prev.org], 1, dtype=np.int64)

            self._reader(first, a, b, released)
        pairs = segment_fifo_pairs(st)
        sel = self.sel.get(k)  # a shedding buffer's stored rows (a == 0, every row kept)
        for w, r, link in pairs:
            self._reader(
                r, a, b, lambda x, y, w=w: np.add(w.W[x - org : y - org], 1, dtype=np.int64)
            )
            self._fifo(link.name, flat_rows(w.W, org, a, b), a * w.O, r.Rf, org * r.t.in_beats)
        for node in (*st.stage, *st.branch):
            cons = [
                (ln.name, r.Rf, ln.depth, org * r.t.in_beats) for w, r, ln in pairs if w is node
            ]
            if node is st.stage[-1] and s.cbuf is not None and sel is None:
                cons.append((s.cbuf.name, st.LVf, s.cbuf.capacity, org * st.B))
            if node is st.branch[-1] and s.verdict is not None and sel is None:
                cons.append((s.verdict.name, st.F, s.verdict.depth, org))
                self._fifo(s.verdict.name, flat_rows(node.W, org, a, b), a * node.O, st.F, org)
            elif node is st.branch[-1] and s.verdict is not None and sel is not None:
                self._fifo(s.verdict.name, node.W[sel, 0], 0, st.F[sel], 0)
                wr, er = node_rows(node, 0, b)
                by = self.by[node.t.name]
                by[s.verdict.name] += shed_verdict_wait(wr, er, sel, st.F[sel], s.verdict.depth)
            self._node_writer(node, a, b, cons)
        if s.cbuf is None:
            return
        stage_w = st.stage[-1].W
        if sel is not None:
            self._fifo(s.cbuf.name, stage_w[sel].reshape(-1), 0, st.LV[sel].reshape(-1), 0)
            self.cols[k][0][:] = stage_w[sel, 0]
            self.cols[k][1][:] = st.LV[sel, -1]
            bw, blv, _ = self.buffers[s.cbuf.name]
            bw.append(stage_w[sel].reshape(-1))
            blv.append(st.LV[sel].reshape(-1))
        else:
            self._fifo(s.cbuf.name, flat_rows(stage_w, org, a, b), a * st.B, st.LVf, org * st.B)
            cw, clv = self.cols[k]
            cw[a:b] = stage_w[a - org : b - org, 0]
            clv[a:b] = st.LV[a - org : b - org, -1]
        if (self.record or self.eng.keep) and sel is None:  # (kept rows: views, no copy)
            bw, blv, _ = self.buffers[s.cbuf.name]
            bw.append(
                flat_rows(stage_w, org, a, b)
                if self.eng.keep
                else flat_rows(stage_w, org, a, b).copy()
            )
            blv.append(
                flat_rows(st.LV, org, a, b) if self.eng.keep else flat_rows(st.LV, org, a, b).copy()
            )
        cont = a + np.flatnonzero(self.ex[self.seqs[k][a:b]] > k)
        a1 = self.done[k + 1]  # the next segment's rows of this block: these frames, in order
        self.cont[k] = (cont, a1)
        b1 = a1 + len(cont)
        nxt = self.eng.segs[k + 1]
        link, n0 = self.model.segments[k + 1].link_into(0), nxt.stage[0]
        r0 = nxt.org * n0.t.in_beats
        cons = [(link.name, n0.Rf, link.depth, r0)]

        def rows(x: int, y: int) -> tuple[np.ndarray, np.ndarray]:
            """Release times of the continuing frames and their earliest cycles: stored, after
            the take (first beat) or the previous beat (others)."""
            idx = cont[x - a1 : y - a1] - org
            lv = st.LV[idx]
            e = np.empty(lv.shape, np.int64)
            e[:, 0] = st.F[idx]
            e[:, 1:] = lv[:, :-1]
            np.maximum(e, stage_w[idx], out=e)
            e += 1
            return lv, e

        self._writer(s.cbuf.name, a1, b1, st.B, rows, cons)
        # the next segment's input FIFO: released beats in, its first node's reads out
        self._fifo(link.name, st.LV[cont - org].reshape(-1), a1 * st.B, n0.Rf, r0)

    def _dma(self, a: int, b: int) -> np.ndarray:
        """The DMA: only a frame's first beat waits (for its arrival)."""
        d = np.full((b - a, self.eng.segs[0].stage[0].t.in_beats), NEG, np.int64)
        d[:, 0] = self.first_beat[a:b]
        return d

    def _reader(self, node: NodeState, a: int, b: int, avail: Callable) -> None:
        """starved: cycles a read was due but its beat absent; full: due and present, but K
        frames in flight. avail(x, y): cycle each beat of rows [x, y) is readable from."""
        t, org = node.t, node.org
        gaps = np.concatenate([[t.rgap0], np.diff(t.in_off)])
        starved = full = 0
        for x0, y0 in row_blocks(a, b, t.in_beats):
            x, y = x0 - org, y0 - org
            r = node.R[x:y]
            p = paced_bounds(r, prev_row_last(node.R, x, y), gaps, 0)
            if t.ranchor:  # a frame's first read: one interval after the previous frame's
                prev = node.R[max(x - 1, 0) : y - 1, 0]
                lead = len(r) - len(prev)
                np.maximum(p[lead:, 0], prev + t.ranchor, out=p[lead:, 0])
            if t.read_anchor is not None:  # read j: read_anchor[j] after the frame's first
                np.maximum(p[:, 1:], r[:, :1] + t.read_anchor[1:], out=p[:, 1:])
            d = avail(x0, y0)
            z = np.minimum(d, r)
            z -= p
            starved += int(np.maximum(z, 0, out=z).sum())
            np.maximum(p, d, out=z)
            np.subtract(r, z, out=z)
            full += int(np.maximum(z, 0, out=z).sum())
        c = self.stalls[t.name]
        c["full"] += full
        c["starved"] += starved

    def _writer(
        self, name: str, a: int, b: int, width: int, rows: Rows, cons: list[Consumer]
    ) -> None:
        """blocked: cycles from a beat's earliest cycle without back-pressure to its write;
        blocked_by a consumer: the part of that before the consumer's FIFO had room."""
        blocked = 0
        by = self.by[name]
        for x0, y0 in row_blocks(a, b, width):
            x2, e2 = rows(x0, y0)
            x, e = x2.reshape(-1), e2.reshape(-1)
            blocked += int(np.subtract(x, e, dtype=np.int64).sum())
            ga, gb = x0 * width, y0 * width
            for link, reads, depth, r0 in cons:
                lo = max(ga, depth)  # write g < depth always finds room
                if lo >= gb:
                    continue
                # room for write g from read g - depth + 1
                s = np.add(reads[lo - depth - r0 : gb - depth - r0], 1, dtype=np.int64)
                np.minimum(s, x[lo - ga :], out=s)
                s -= e[lo - ga :]
                by[link] += int(np.maximum(s, 0, out=s).sum())
        self.stalls[name]["blocked"] += blocked

    def _node_writer(self, node: NodeState, a: int, b: int, cons: list[Consumer]) -> None:
        self._writer(node.t.name, a, b, node.t.out_beats, lambda x, y: node_rows(node, x, y), cons)

    def result(self) -> RunResult:
        """The RunResult of the finished run (BufferOverflowError on an engine bug)."""
        eng, ex = self.eng, self.ex
        for k, st in enumerate(eng.segs):
            if k in self.cols:
                self.occ[f"{st.seg.buffer().name}.frames"], _ = max_occupancy(*self.cols[k])
        for name, (occ, depth, frames, beats) in self.fifos.items():
            held, g, cycle = occ.result()
            self.occ[name] = held
            if held > depth:
                raise BufferOverflowError(name, int(frames[g // beats]), cycle, held, depth)
        finish = merge_finish(eng.merge_arrival, ex)
        self.occ["merge"], _ = max_occupancy(np.sort(eng.merge_arrival - 1), np.sort(finish))

        def join(parts: list[np.ndarray]) -> np.ndarray:
            return parts[0] if len(parts) == 1 else np.concatenate(parts or [np.zeros(0, np.int64)])

        buffers = {
            name: (join(w), join(lv), beats)
            for name, (w, lv, beats) in self.buffers.items()
            if self.record or eng.keep
        }
        return RunResult(
            exit_index=ex.copy(),
            arrival=eng.arrival.copy(),
            start=self.start,
            finish=finish,
            max_occupancy=self.occ,
            stalls=self.stalls,
            blocked_by={
                n: {k: v for k, v in by.items() if v}
                for n, by in self.by.items()
                if any(by.values())
            },
            extra={"engine": eng, "buffers": buffers},
        )


def fast_run(
    model: Model,
    exit_index: np.ndarray,
    arrival: np.ndarray,
    keep: bool | None = None,
    window: int = 0,
    block: int = BLOCK_FRAMES,
    buffers: bool = False,
) -> RunResult:
    """Run the fast engine and count; keep None keeps every row for short runs only.

    window/block (windowed runs): rows of history beyond the model's look-back, frames a block.
    buffers: a windowed run copies every conditional-buffer beat into extra["buffers"] for the
    occupancy plot (sim.plots); a run keeping every row has them anyway.
    """
    if model.shedding:  # which frames reach a segment is known only after the run
        eng = FastEngine(model, exit_index, arrival).run()
        col = _Collector(model, eng.eff, arrival, buffers)
        col.begin(eng)
        col.block(eng, [int((eng.eff >= k).sum()) for k in range(model.num_exits)])
        res = col.result()
        res.forced = eng.shed & (eng.exit_index > eng.eff)
        return res
    if keep is None:
        keep = len(exit_index) <= KEEP_FRAMES
    col = _Collector(model, exit_index, arrival, buffers)
    if not keep:
        try:
            FastEngine(model, exit_index, arrival, window, block).run(col)
            return col.result()
        except NeedAll:
            log.info("a stream outside the windowed counters' fast path: rerun keeping all rows")
    FastEngine(model, exit_index, arrival).run(col)
    return col.result()
