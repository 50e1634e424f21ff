"""Most beats a FIFO held: max_occupancy over a whole stream, StreamOcc block by block.

held[g] (beats in the FIFO just after write g) = writes up to write g's cycle - reads up to it.
StreamOcc gives the same maximum, and the same first write reaching it, from a stream seen in
blocks with a bounded history of reads (a windowed run, sim.fast): the block search below only
ever compares write g with read g - h, h <= the FIFO's depth for a correct engine.
"""

from __future__ import annotations

import numpy as np

# Beats per block: large enough that the per-block Python overhead is small, small enough that
# a block's few temporaries stay in the cache.
CHUNK = 1 << 15


class NeedAll(Exception):
    """A windowed count cannot be exact (a stream outside the fast path): redo keeping all."""


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


class StreamOcc:
    """max_occupancy of a stream of n_writes writes and n_reads reads, fed block by block."""

    def __init__(self, n_writes: int, n_reads: int) -> None:
        self.n, self.n_reads, self.equal = n_writes, n_reads, n_writes == n_reads
        self.best, self.g, self.cycle = -1, -1, 0  # held > best somewhere; first write g there
        self.last: int | None = None  # the last write seen (strictly increasing check)
        self.whole: tuple[int, int, int] | None = None

    def add(self, writes: np.ndarray, a: int, reads: np.ndarray, r0: int) -> None:
        """Writes of beats [a, a + len(writes)); reads[i] is read r0 + i, present up to the
        block's end. One block holding the whole stream is counted by max_occupancy itself."""
        b = a + len(writes)
        if a == 0 and b == self.n and r0 == 0:
            held, g = max_occupancy(writes, reads[: self.n_reads])
            self.whole = (held, g, int(writes[g]) if g >= 0 else 0)
            return
        if not self.equal:
            raise NeedAll
        for c in range(a, b, CHUNK):
            self._chunk(writes[c - a : min(b, c + CHUNK) - a], c, reads, r0)

    def _chunk(self, w: np.ndarray, c: int, reads: np.ndarray, r0: int) -> None:
        d = c + len(w)
        if np.any(w[1:] <= w[:-1]) or (self.last is not None and w[0] <= self.last):
            raise NeedAll
        self.last = int(w[-1])
        hmax = c - r0 if r0 > 0 else d  # reads before r0 are gone: h beyond hmax is unknown

        def above(h: int) -> np.ndarray:
            """held[g] > h for writes g in [max(c, h), d): read g - h comes after write g."""
            if h > hmax:
                if above(hmax).any():  # held beyond the history kept (an engine bug): count all
                    raise NeedAll
                return np.zeros(1, bool)
            g0 = max(c, h)
            return reads[g0 - h - r0 : d - h - r0] > w[g0 - c :]

        lo = self.best + 1
        if lo >= d or not above(lo).any():
            return
        step = 1
        while lo + step < d and above(lo + step).any():
            lo += step
            step *= 2
        hi = min(lo + step, d)  # held > hi nowhere in the block
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if above(mid).any():
                lo = mid
            else:
                hi = mid
        self.best = lo
        self.g = max(c, lo) + int(np.argmax(above(lo)))
        self.cycle = int(w[self.g - c])

    def result(self) -> tuple[int, int, int]:
        """(max beats held, first write reaching it, that write's cycle)."""
        if self.whole is not None:
            return self.whole
        if self.n == 0:
            return 0, -1, 0
        if self.best < 0:
            raise NeedAll  # nothing ever held: a broken stream, counted over all of it
        return self.best + 1, self.g, self.cycle
