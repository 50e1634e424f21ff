"""Processes of the reference stepper: FIFOs, the input DMA, node read/write sides, buffers.

Each process decides from the state at the start of a cycle; FIFO pushes and pops take effect at
its end (sim.stepper runs the cycles). The rules are those of docs/simulator.md, written as the
hardware would check them, independently of the recurrences of sim.fast.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from exitflow.sim.model import NodeTiming


class Fifo:
    """Beats (frame id, beat or verdict) in order; pushes and pops land at the end of a cycle."""

    def __init__(self, name: str, depth: int) -> None:
        self.name, self.depth = name, depth
        self.items: deque = deque()
        self.pops = 0
        self.pushes: list = []
        self.max_occ = 0
        self.writer: Proc | None = None
        self.reader: Proc | None = None

    def full(self) -> bool:
        return len(self.items) >= self.depth

    def apply(self) -> None:
        for _ in range(self.pops):
            self.items.popleft()
        self.items.extend(self.pushes)
        self.pops, self.pushes = 0, []
        self.max_occ = max(self.max_occ, len(self.items))


class Proc:
    """A process of the wait-for graph (for deadlock reports)."""

    name = "?"
    blocked_since: int | None = None

    def waits_on(self) -> list[Proc | None]:  # None: not wired
        return []

    def pending_frame(self) -> int:
        return -1

    def out_fifos(self) -> list[Fifo]:
        """The FIFOs this process writes (a deadlock report names the full ones)."""
        return []


class DmaProc(Proc):
    """Input DMA: frame f's beats from cycle arrival[f], one per cycle, into a small FIFO."""

    name = "input"

    def __init__(self, arrival: np.ndarray, beats: int, out: Fifo) -> None:
        self.arrival, self.beats, self.out = arrival.tolist(), beats, out
        self.f = self.j = 0
        out.writer = self

    def step(self, t: int) -> bool:
        if self.f >= len(self.arrival) or t < self.arrival[self.f] or self.out.full():
            return False
        self.out.pushes.append((self.f, self.j))
        self.j += 1
        if self.j == self.beats:
            self.f, self.j = self.f + 1, 0
        return True

    def waits_on(self) -> list[Proc | None]:  # None: not wired
        return [self.out.reader] if self.f < len(self.arrival) and self.out.full() else []

    def out_fifos(self) -> list[Fifo]:
        return [self.out]


class ReaderProc(Proc):
    """A node's read side: paced reads, at most `inflight` frames between first read and last write."""

    def __init__(self, t: NodeTiming, frames: list[int], inp: Fifo) -> None:
        self.t, self.frames, self.inp, self.name = t, frames, inp, t.name
        self.gap = [t.rgap0, *np.diff(t.in_off).tolist()]
        self.phi = self.j = 0
        self.last: int | None = None
        self.first: int | None = None  # cycle of the last frame's first read (t.ranchor)
        self.cur = 0
        self.prev: int | None = None  # the last frame's last read (t.rback)
        self.read_at: dict[int, list[int]] = {}  # frame index -> cycle of each beat read
        self.writer: WriterProc  # set by the WriterProc that pairs with this reader
        self.starved = self.full = 0
        # Load shedding: `frames` grows as frames are admitted upstream. Cycles starved before
        # the next frame is known count once it comes (a frame that never comes was never due).
        self.dynamic = False
        self.pending = 0
        inp.reader = self

    def step(self, t: int) -> bool:
        if self.last is not None and t < self.last + self.gap[self.j]:
            return False
        if self.j == 0 and self.first is not None and t < self.first + self.t.ranchor:
            return False
        ra = self.t.read_anchor
        if self.j and ra is not None and t < self.cur + int(ra[self.j]):
            return False
        if self.phi >= len(self.frames):
            self.pending += self.dynamic
            return False
        self.starved += self.pending
        self.pending = 0
        if not self.inp.items:
            self.starved += 1
            return False
        k = self.t.inflight
        if self.j == 0 and self.phi >= k and len(self.writer.frame_end) <= self.phi - k:
            self.full += 1
            return False
        rb = self.t.rback
        if rb is not None and self.prev is not None and t < self.prev + int(rb[self.j]):
            self.full += 1  # the partition's buffers hold the beat back (as K frames would)
            return False
        if self._frozen(t):
            self.full += 1  # held behind its own writes (t.fzk), as K frames would hold it
            return False
        if self.inp.items[0] != (self.frames[self.phi], self.j):
            raise AssertionError(f"{self.name} got beat {self.inp.items[0]} out of order")
        self.inp.pops += 1
        self.read_at.setdefault(self.phi, []).append(t)
        self.last = t
        if self.j == 0:
            self.cur = t  # this frame's first read (t.read_anchor)
            if self.t.ranchor:
                self.first = t
        self.j += 1
        if self.j == self.t.in_beats:
            self.phi, self.j = self.phi + 1, 0
            self.prev = t
        return True

    def _frozen(self, t: int) -> bool:
        """Read j waits until fzd[j] after write fzk[j] (previous frame's, or this one's)."""
        fk, fd = self.t.fzk, self.t.fzd
        if fk is None or fd is None or fk[self.j] < 0:
            return False
        k, o = int(fk[self.j]), self.t.out_beats
        f = self.phi - 1 if k < o else self.phi
        if f < 0:
            return False
        w = self.writer.wat.get(f, [])
        return len(w) <= k % o or t < w[k % o] + int(fd[self.j])

    def waits_on(self) -> list[Proc | None]:  # None: not wired
        if self.phi >= len(self.frames):
            return []
        return [self.inp.writer] if not self.inp.items else [self.writer]


class WriterProc(Proc):
    """A node's write side: paced writes, each after its input beat dep[k] + dlat[k], with space."""

    def __init__(
        self, t: NodeTiming, frames: list[int], reader: ReaderProc, outs: list[Fifo]
    ) -> None:
        self.t, self.frames, self.reader, self.outs, self.name = t, frames, reader, outs, t.name
        reader.writer = self
        self.gap = [t.wgap0, *np.diff(t.out_off).tolist()]
        self.off = t.out_off.tolist()
        self.top = 0  # max over this frame's writes of write - out_off (NodeTiming.wslack)
        self.wat: dict[int, list[int]] = {}  # recent frames' write cycles (t.fzk)
        self.dep, self.dlat = t.dep.tolist(), t.dlat.tolist()
        self.anchor = None if t.anchor is None else t.anchor.tolist()
        self.phi = self.k = 0
        self.last: int | None = None
        self.frame_end: list[int] = []
        self.blocked = 0
        self.blocked_by: dict[str, int] = {}
        self.payload = lambda phi, k: (frames[phi], k)
        self.on_write: Callable[[int, int, int], None] | None = None  # results to the merge
        # Load shedding: route(phi) picks the FIFOs a frame's beats go to, decided in the cycle
        # its first beat is written (state at the start of that cycle); admit(phi, outs) follows
        # that write.
        self.route: Callable[[int], list[Fifo]] | None = None
        self.admit: Callable[[int, list[Fifo]], None] | None = None
        self.cur = outs
        for o in outs:
            o.writer = self

    def _data(self, t: int) -> bool:
        reads = self.reader.read_at.get(self.phi, [])
        d = self.dep[self.k]
        if self.anchor is not None and not (reads and reads[0] + self.anchor[self.k] <= t):
            return False
        return len(reads) > d and reads[d] <= t - self.dlat[self.k]

    def _paced(self, t: int) -> bool:
        if self.last is None:
            return True
        k, sl = self.k, self.t.wslack
        if not k or not sl:
            return t >= self.last + self.gap[k]
        return t >= self.last + self.t.wgmin and t >= self.top + self.off[k] - sl

    def step(self, t: int) -> bool:
        if self.phi >= len(self.frames) or not self._paced(t):
            return False
        if not self._data(t):
            return False
        if self.k == 0 and self.route is not None:
            self.cur = self.route(self.phi)
        full = [o for o in self.cur if o.full()]
        if full:
            self.blocked += 1
            for o in full:
                self.blocked_by[o.name] = self.blocked_by.get(o.name, 0) + 1
            if self.blocked_since is None:
                self.blocked_since = t
            return False
        self.blocked_since = None
        item = self.payload(self.phi, self.k)
        for o in self.cur:
            o.pushes.append(item)
        if self.k == 0 and self.admit is not None:
            self.admit(self.phi, self.cur)
        if self.on_write is not None:
            self.on_write(self.phi, self.k, t)
        self.last = t
        u = t - self.off[self.k]
        self.top = u if not self.k else max(self.top, u)
        if self.t.fzk is not None:
            if not self.k:
                self.wat.pop(self.phi - 2, None)
            self.wat.setdefault(self.phi, []).append(t)
        self.k += 1
        if self.k == self.t.out_beats:
            self.reader.read_at.pop(self.phi, None)
            self.frame_end.append(t)
            self.phi, self.k = self.phi + 1, 0
        return True

    def waits_on(self) -> list[Proc | None]:  # None: not wired
        if self.phi >= len(self.frames):
            return []
        if not self._data(1 << 62):
            return [self.reader]
        return [o.reader for o in self.cur if o.full()]

    def pending_frame(self) -> int:
        return self.frames[self.phi] if self.phi < len(self.frames) else -1

    def out_fifos(self) -> list[Fifo]:
        return list(self.cur)


class BufferProc(Proc):
    """A conditional buffer's output side: takes each frame's verdict, then drops or releases it."""

    def __init__(
        self, name: str, frames: list[int], beats: int, store: Fifo, verdict: Fifo, out: Fifo
    ) -> None:
        self.name, self.frames, self.beats = name, frames, beats
        self.store, self.verdict, self.out = store, verdict, out
        store.reader = verdict.reader = self
        out.writer = self
        self.phi = self.j = 0
        self.taken: int | None = None  # cycle the current frame's verdict was taken
        self.drop = False
        self.frame_end: int | None = None
        self.frames_in = self.frames_out = self.max_frames = 0
        self.blocked = 0
        self.blocked_by: dict[str, int] = {}

    def step(self, t: int) -> bool:
        if self.phi >= len(self.frames):
            return False
        if self.taken is None:
            if self.verdict.items and (self.frame_end is None or self.frame_end <= t - 1):
                self.drop = self.verdict.items[0][1]
                self.verdict.pops += 1
                self.taken = t
                return True
            return False
        if self.taken > t - 1:
            return False
        if self.drop:
            if len(self.store.items) < self.beats:
                return False
            self.store.pops += self.beats
            self._frame_done(t)
            return True
        if not self.store.items:
            return False
        if self.out.full():
            self.blocked += 1
            self.blocked_by[self.out.name] = self.blocked_by.get(self.out.name, 0) + 1
            if self.blocked_since is None:
                self.blocked_since = t
            return False
        self.blocked_since = None
        self.store.pops += 1
        self.out.pushes.append(self.store.items[0])
        self.j += 1
        if self.j == self.beats:
            self._frame_done(t)
        return True

    def _frame_done(self, t: int) -> None:
        self.frames_out += 1
        self.frame_end, self.taken = t, None
        self.phi, self.j = self.phi + 1, 0

    def waits_on(self) -> list[Proc | None]:  # None: not wired
        if self.phi >= len(self.frames):
            return []
        if self.taken is None:
            return [] if self.verdict.items else [self.verdict.writer]
        if self.drop or not self.store.items:
            return [self.store.writer]
        return [self.out.reader] if self.out.full() else []

    def pending_frame(self) -> int:
        return self.frames[self.phi] if self.phi < len(self.frames) else -1

    def out_fifos(self) -> list[Fifo]:
        return [self.out]
