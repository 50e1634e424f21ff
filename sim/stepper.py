"""Reference engine: advances one cycle at a time with explicit FIFO contents and counters.

Obviously correct and slow, for small cases and for checking the fast engine. Every cycle has two
phases: each process decides from the state at the start of the cycle (FIFO contents, timestamps
of earlier cycles), then all FIFO pushes and pops are applied. So a beat written in cycle t is
readable from t+1 and a slot freed in cycle t is writable from t+1 (docs/simulator.md).
A watchdog turns "nothing moved for too long" into a DeadlockError naming the blocked writer.
"""

from __future__ import annotations

import numpy as np

from exitflow.sim.errors import DeadlockError
from exitflow.sim.model import Model, NodeTiming
from exitflow.sim.result import RunResult
from exitflow.sim.stepper_procs import BufferProc, DmaProc, Fifo, Proc, ReaderProc, WriterProc

INPUT_FIFO_DEPTH = 2  # the DMA's FIFO; with depth >= 2 it never delays the first node (docs)


class StepperEngine:
    """Cycle-by-cycle simulation of `model` for one exit sequence and arrival process."""

    def __init__(self, model: Model, exit_index: np.ndarray, arrival: np.ndarray) -> None:
        self.model = model
        self.exit_index = np.asarray(exit_index, np.int64)
        self.arrival = np.asarray(arrival, np.int64)
        n = len(self.exit_index)
        self.start = np.full(n, -1, np.int64)
        self.finish = np.full(n, -1, np.int64)
        self.merge: list[tuple[int, int, int]] = []  # (arrival, exit, frame)
        self.merge_max = 0
        self.fifos: list[Fifo] = []
        self.readers: list[ReaderProc] = []
        self.writers: list[WriterProc] = []
        self.cbufs: list[BufferProc] = []
        self.eff = self.exit_index.copy()  # the exit each frame leaves at (shedding moves it)
        self.shed = np.zeros(n, bool)
        # Any legitimate wait is a pacing gap or a latency; longer with no move is a deadlock.
        self.watchdog = 2 * max(max(t.ii, t.latency) for t in model.nodes()) + 16
        self._build()

    def _fifo(self, name: str, depth: int) -> Fifo:
        self.fifos.append(Fifo(name, depth))
        return self.fifos[-1]

    def _node(self, t: NodeTiming, frames: list[int], inp: Fifo, outs: list[Fifo]) -> WriterProc:
        r = ReaderProc(t, frames, inp)
        w = WriterProc(t, frames, r, outs)
        self.readers.append(r)
        self.writers.append(w)
        return w

    def _build(self) -> None:
        segs = self.model.segments
        inp = self._fifo("input", INPUT_FIFO_DEPTH)
        self.dma = DmaProc(self.arrival, segs[0].stage[0].in_beats, inp)
        shedding = self.model.shedding
        frames: list[int] = np.arange(len(self.exit_index)).tolist()
        for k, s in enumerate(segs):
            if not shedding:
                frames = np.flatnonzero(self.exit_index >= k).tolist()
            store = self._fifo(s.cbuf.name, s.cbuf.capacity) if s.cbuf is not None else None
            stored: list[int] = [] if shedding else list(frames)
            nxt_frames: list[int] | None = [] if shedding else None
            for i, t in enumerate(s.stage):
                if i + 1 < len(s.stage):
                    link = s.link_into(i + 1)
                    outs = [self._fifo(link.name, link.depth)]
                else:
                    outs = [self._fifo(s.branch_links[0].name, s.branch_links[0].depth)]
                    outs += [store] if store is not None else []
                w = self._node(t, frames, inp, outs)
                w.reader.dynamic = shedding and k > 0
                last = i + 1 == len(s.stage)
                if shedding and last and store is not None and nxt_frames is not None:
                    self._shed_hooks(w, k, frames, store, stored, nxt_frames)
                inp = outs[0]
            for i, t in enumerate(s.branch):
                if i + 1 < len(s.branch):
                    outs = [self._fifo(s.branch_links[i + 1].name, s.branch_links[i + 1].depth)]
                elif s.verdict is not None:
                    outs = [self._fifo(s.verdict.name, s.verdict.depth)]
                else:
                    outs = []
                w = self._node(t, frames, inp, outs)
                w.reader.dynamic = shedding and k > 0
                if outs:  # the final head's last node writes to the merge alone
                    inp = outs[0]
            self._hook_results(w, k, frames, s.verdict is not None)
            if store is not None:
                if shedding:  # shed frames send no verdict to the buffer
                    verdict = [inp]
                    w.route = lambda phi, fr=frames, v=verdict: [] if self.shed[fr[phi]] else v
                nxt = segs[k + 1].link_into(0)
                out = self._fifo(nxt.name, nxt.depth)
                self.cbufs.append(
                    BufferProc(s.buffer().name, stored, s.buffer().frame_beats, store, inp, out)
                )
                inp = out
                if nxt_frames is not None:
                    frames = nxt_frames

    def _shed_hooks(
        self,
        w: WriterProc,
        k: int,
        frames: list[int],
        store: Fifo,
        stored: list[int],
        nxt: list[int],
    ) -> None:
        """Stage k's last node under load shedding: a frame is stored only if, at the start of
        the cycle its first beat is written, the buffer has room for all of its beats."""
        head = w.outs[0]
        beats = w.t.out_beats

        def route(phi: int) -> list[Fifo]:
            return [head, store] if len(store.items) + beats <= store.depth else [head]

        def admit(phi: int, outs: list[Fifo]) -> None:
            f = frames[phi]
            if len(outs) == 2:
                stored.append(f)
                if self.exit_index[f] > k:
                    nxt.append(f)
            else:
                self.shed[f] = True
                self.eff[f] = k

        w.route, w.admit = route, admit

    def _hook_results(self, w: WriterProc, k: int, frames: list[int], decides: bool) -> None:
        """The exit's last node feeds the merge (and, for a decision unit, writes the verdict)."""
        exits, shed = self.exit_index, self.shed
        if decides:
            w.payload = lambda phi, _k: (frames[phi], bool(exits[frames[phi]] == k))

        def on_write(phi: int, beat: int, t: int) -> None:
            f = frames[phi]
            if (decides and (exits[f] == k or shed[f])) or (
                not decides and beat == w.t.out_beats - 1
            ):
                self.merge.append((t + 1, k, f))

        w.on_write = on_write

    def run(self) -> RunResult:
        """Simulate until every frame has left the merge; raises DeadlockError if stuck."""
        n = len(self.exit_index)
        first = self.readers[0]
        done = t = last_move = 0
        while done < n:
            moved = self.dma.step(t)
            for r in self.readers:
                phi, j = r.phi, r.j
                if r.step(t):
                    moved = True
                    if r is first and j == 0:
                        self.start[first.frames[phi]] = t
            for w in self.writers:
                moved |= w.step(t)
            for cb in self.cbufs:
                moved |= cb.step(t)
            ready = [r for r in self.merge if r[0] <= t]
            if ready:
                pick = min(ready)  # earliest arrival first, then the lower exit
                self.merge.remove(pick)
                self.finish[pick[2]] = t
                done += 1
                moved = True
            for cb in self.cbufs:
                cb.frames_in += sum(1 for _, b in cb.store.pushes if b == 0)
            for fifo in self.fifos:
                fifo.apply()
            for cb in self.cbufs:
                cb.max_frames = max(cb.max_frames, cb.frames_in - cb.frames_out)
            self.merge_max = max(self.merge_max, len(self.merge))
            if moved:
                last_move = t
            elif t - last_move > self.watchdog and not self._input_pending(t):
                raise self._deadlock(t)
            t += 1
        return self._result()

    def _input_pending(self, t: int) -> bool:
        f = self.dma.f
        return f < len(self.arrival) and self.arrival[f] > t

    def _deadlock(self, t: int) -> DeadlockError:
        """Follow 'waits on' from each blocked writer to a cycle; report the blocked writer in it."""
        for start in [*self.writers, *self.cbufs]:
            if start.blocked_since is None:
                continue
            path: list[Proc] = []
            cur: Proc | None = start
            while cur is not None and not any(cur is p for p in path):
                path.append(cur)
                nxt = cur.waits_on()
                cur = nxt[0] if nxt else None
            if cur is None:
                continue
            loop = path[next(i for i, p in enumerate(path) if p is cur) :]
            for p in loop:
                if p.blocked_since is not None:
                    outs = p.out_fifos()
                    full = ", ".join(o.name for o in outs if o.full())
                    return DeadlockError(
                        p.name,
                        p.pending_frame(),
                        p.blocked_since,
                        f"{full} is full and can never drain (watchdog fired at cycle {t})",
                    )
        return DeadlockError("?", -1, t, "no beat moved, yet no waiting cycle was found")

    def _result(self) -> RunResult:
        occ = {f.name: f.max_occ for f in self.fifos if f.name != "input"}
        for cb in self.cbufs:
            occ[f"{cb.name}.frames"] = cb.max_frames
        occ["merge"] = self.merge_max
        stalls = {
            w.name: {"blocked": w.blocked, "full": r.full, "starved": r.starved}
            for r, w in zip(self.readers, self.writers)
        }
        blocked_by = {w.name: dict(w.blocked_by) for w in self.writers if w.blocked_by}
        for cb in self.cbufs:
            stalls[cb.name] = {"blocked": cb.blocked, "full": 0, "starved": 0}
            if cb.blocked_by:
                blocked_by[cb.name] = dict(cb.blocked_by)
        forced = self.shed & (self.exit_index > self.eff)
        return RunResult(
            exit_index=self.eff.copy(),
            forced=forced if self.model.shedding else np.zeros(0, bool),
            arrival=self.arrival.copy(),
            start=self.start,
            finish=self.finish,
            max_occupancy=occ,
            stalls=stalls,
            blocked_by=blocked_by,
        )
