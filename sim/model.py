"""The timing model both engines simulate: nodes with beat schedules, FIFOs, conditional buffers.

A design is a list of segments, one per exit. Segment k is the chain of backbone nodes from the
previous exit up to stage k, then a fork: one branch is exit k's head chain (head nodes and, for a
non-final exit, its decision unit), the other the conditional buffer that holds each frame until
decision k arrives and then drops it or releases it into segment k+1. The semantics of every
element is defined in docs/simulator.md; this module only derives the per-beat constants.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from exitflow.sim.model_sched import ModelError, freeze_bounds, held_bounds, starved_deps

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class NodeTiming:
    """One node: reads `in_beats` and writes `out_beats` per frame, one frame per `ii` cycles.

    Derived (docs/simulator.md, "Node"): read offsets in_off[j] = floor(j*ii/in_beats), write
    offsets out_off[k] = latency - floor((out_beats-1-k)*ii/out_beats); output beat k depends on
    input beat dep[k] (the last one the nominal schedule has read before out_off[k]) and follows it
    by dlat[k] >= 1 cycles; at most `inflight` frames are between first read and last write.
    """

    name: str
    in_beats: int
    out_beats: int
    ii: int
    latency: int  # effective: first read to last write in an empty pipeline
    in_off: np.ndarray
    out_off: np.ndarray
    rgap0: int  # cycles from a frame's last read to the next frame's first read, unstalled
    wgap0: int  # ... from a frame's last write to the next frame's first write
    out_rel: np.ndarray  # out_off - out_off[0]
    dep: np.ndarray
    dlat: np.ndarray
    inflight: int
    # Measured nodes only (from_schedule with a starved schedule): write k also waits until
    # `anchor[k]` cycles after the frame's first read (the saturated schedule, which the
    # pipeline cannot beat), and a frame's first read until `ranchor` cycles after the previous
    # frame's first read (its steady-state interval); None / 0: no such bound.
    anchor: np.ndarray | None = None
    ranchor: int = 0
    # ... and read j until read_anchor[j] cycles after the frame's first read (its saturated
    # read schedule), while in_off then paces reads only at their fastest measured rate: a
    # starved pipeline reads each word as it comes, a saturated one at its own pattern
    read_anchor: np.ndarray | None = None
    # ... and read j of a frame until rback[j] cycles after the previous frame's last read (a
    # measured steady state: the partition's own buffers take the next frame's first words at
    # once and refuse the rest until its pipeline has drained the previous frame far enough)
    rback: np.ndarray | None = None
    # ... and write k >= 1 at most wslack cycles ahead of out_off seen from any earlier write of
    # the frame, wgmin after the previous one: it catches up that much after a hold (0: none)
    wslack: int = 0
    wgmin: int = 1
    # ... and read j at least fzd[j] after write fzk[j] (< out_beats: of the previous frame,
    # else fzk - out_beats of the same frame; -1: none): its reads stop behind held writes
    fzk: np.ndarray | None = None
    fzd: np.ndarray | None = None

    @classmethod
    def make(cls, name: str, in_beats: int, out_beats: int, ii: int, latency: int) -> NodeTiming:
        """Derive the beat schedule; raises ModelError if a port would move > 1 beat/cycle."""
        if min(in_beats, out_beats, ii) < 1 or latency < 0:
            raise ModelError(f"node {name}: beats and cycles_per_frame must be >= 1")
        if ii < max(in_beats, out_beats):
            raise ModelError(
                f"node {name}: cycles_per_frame {ii} < {max(in_beats, out_beats)} beats per "
                "frame, but a stream moves at most one beat per cycle: raise cycles_per_frame "
                "or widen the stream (fewer, wider beats)"
            )
        in_off = (np.arange(in_beats, dtype=np.int64) * ii) // in_beats
        span_out = ((out_beats - 1) * ii) // out_beats
        eff = max(latency, int(in_off[-1]) + 1, span_out + 1)
        if eff != latency:
            log.debug(
                "node %s: latency raised from %d to %d (last write after last read)",
                name,
                latency,
                eff,
            )
        back = ((out_beats - 1 - np.arange(out_beats, dtype=np.int64)) * ii) // out_beats
        out_off = eff - back
        dep = np.searchsorted(in_off, out_off, side="left").astype(np.int64) - 1
        return cls(
            name=name,
            in_beats=in_beats,
            out_beats=out_beats,
            ii=ii,
            latency=eff,
            in_off=in_off,
            out_off=out_off,
            rgap0=ii - int(in_off[-1]),
            wgap0=ii - span_out,
            out_rel=out_off - out_off[0],
            dep=dep,
            dlat=out_off - in_off[dep],
            inflight=eff // ii + 1,
        )

    @classmethod
    def from_schedule(
        cls,
        name: str,
        in_off: np.ndarray | Sequence[int],
        out_off: np.ndarray | Sequence[int],
        ii: int,
        starved: tuple[Sequence[int], Sequence[int]] | None = None,
        steady: Sequence[int] | None = None,
        paired: Sequence[int] | None = None,
        slack: int = 0,
        freeze: int | None = None,
        read_slack: int | None = None,
        held: Sequence[tuple[int, int, int]] | None = None,
    ) -> NodeTiming:
        """A node with a measured beat schedule (e.g. FINN's RTL in Verilator) instead of even pacing.

        in_off / out_off: cycle of every read / write of one frame in an empty pipeline, relative
        to any origin (shifted so the first read is at 0); ii: cycles per frame in steady state.
        Reads and writes must be strictly increasing (one beat per cycle), the first write after
        the first read, and each side's span shorter than ii. dep and dlat follow from the
        schedule as in `make`: an output beat waits for the last input beat read before it.

        starved: the (reads, writes) of one frame read slowly enough that the pipeline never
        lags its input. Then each write waits for the last read before it in that schedule by
        its latency there (shorter than with back-to-back reads, where the pipeline lags) and
        never comes earlier after the frame's first read than in_off / out_off say; see
        docs/simulator.md, "Measured RTL timing".

        steady: every read of a frame in a saturated steady state, in cycles after the previous
        frame's last read. Read j then waits until that many cycles (less the starved lag)
        after the previous frame's last read; the frame's first words are read ahead.
        paired: the same reads fed as its writer in the top writes (an exit head behind its
        stage), where they come sooner after the last frame's: read j waits for the smaller.
        read_slack: 0 when the measured reads of a held frame never ran ahead of their first
        frame's pattern: with a starved schedule the reads are then paced by the saturated
        gaps (a pipeline stalled as a whole resumes its schedule), not the fastest one.
        held: (read j, write k, cycles d) measured on a held frame: read j waits for write k
        of its frame by d, in place of the freeze rule's bound for that read (held_bounds).
        """
        i = np.asarray(in_off, dtype=np.int64)
        o = np.asarray(out_off, dtype=np.int64)
        if i.ndim != 1 or o.ndim != 1 or not len(i) or not len(o):
            raise ModelError(f"node {name}: a schedule needs at least one read and one write")
        o, i = o - i[0], i - i[0]
        if (np.diff(i) < 1).any() or (np.diff(o) < 1).any():
            raise ModelError(f"node {name}: reads and writes must be strictly increasing cycles")
        if o[0] < 1 or o[-1] <= i[-1]:
            raise ModelError(
                f"node {name}: its first write must follow its first read and its last write "
                "its last read (as in `make`; the engines' counters rely on it)"
            )
        if ii <= int(i[-1]) or ii <= int(o[-1] - o[0]):
            raise ModelError(
                f"node {name}: cycles_per_frame {ii} must exceed the span of a frame's reads "
                f"({int(i[-1])}) and writes ({int(o[-1] - o[0])})"
            )
        dep = np.searchsorted(i, o, side="left").astype(np.int64) - 1
        dlat = o - i[dep]
        eff = int(o[-1])
        rgap0 = int(ii) - int(i[-1])
        anchor, ranchor, read_anchor, pace, lag = None, 0, None, i, 0
        if starved is not None:
            dep, dlat, lag = starved_deps(name, i, o, starved)
            # the pipeline lags its reads by up to `lag` cycles when they come back to back
            # and by none when they are starved; a frame's first read waits until its
            # previous frame's last read + rgap0 - lag, and one interval after its first
            anchor, ranchor, rgap0 = o, int(ii), max(1, rgap0 - lag)
            gap = int(np.diff(i).min()) if len(i) > 1 else 1
            read_anchor, pace = i, np.arange(len(i), dtype=np.int64) * gap
            if read_slack == 0:
                pace = i  # read j at least i[j] - i[j-1] after read j-1: no catching up
        rback = None
        if steady is not None:
            sr = np.asarray(steady, dtype=np.int64)
            pr = sr if paired is None else np.asarray(paired, dtype=np.int64)
            if sr.shape != i.shape or pr.shape != i.shape or sr[0] < 1 or (np.diff(sr) < 1).any():
                raise ModelError(f"node {name}: steady reads: {len(i)} increasing cycles >= 1")
            rback = np.minimum(sr - lag, pr)
            rgap0 = max(1, int(rback[0]))  # the first read's own bound, as the rest
        return cls(
            name=name,
            in_beats=len(i),
            out_beats=len(o),
            ii=int(ii),
            latency=eff,
            in_off=pace,
            out_off=o,
            rgap0=rgap0,
            wgap0=int(ii) - int(o[-1] - o[0]),
            out_rel=o - o[0],
            dep=dep,
            dlat=dlat,
            inflight=eff // int(ii) + 1,
            anchor=anchor,
            ranchor=ranchor,
            read_anchor=read_anchor,
            rback=rback,
            wslack=max(0, int(slack)),
            **held_bounds(freeze_bounds(i, o, int(ii), dep, freeze), held, len(i), len(o), dep),
            wgmin=int(np.diff(o).min()) if len(o) > 1 else 1,
        )


@dataclass(frozen=True)
class Link:
    """A FIFO of `depth` beats between a writer and a reader.

    extra: beats of that depth that are the reader's own input buffer (a measured partition's
    read_ahead, sim.rtl_timing), not the described FIFO: `Model.with_depths` keeps them when it
    sets the described depth."""

    name: str
    depth: int
    extra: int = 0


@dataclass(frozen=True)
class CondBuffer:
    """Storage of `capacity` beats (depth_frames whole frames of frame_beats) after a stage."""

    name: str
    frame_beats: int
    depth_frames: int
    capacity: int  # beats; extra beats of a FIFO in front of it are added here


@dataclass(frozen=True)
class Segment:
    """Exit k's part of the pipeline (see the module docstring)."""

    index: int
    stage: tuple[NodeTiming, ...]
    stage_links: tuple[Link | None, ...]  # [0]: into stage[0] (None: the input DMA)
    branch: tuple[NodeTiming, ...]  # head nodes, then the decision unit (non-final exits)
    branch_links: tuple[Link, ...]  # [0]: fork -> branch[0]; [i]: branch[i-1] -> branch[i]
    verdict: Link | None  # decision unit -> conditional buffer
    cbuf: CondBuffer | None
    stage_names: tuple[str, ...] = ()  # partitions, for reports
    head_name: str = ""
    decision_name: str | None = None

    def link_into(self, i: int) -> Link:
        """The FIFO into stage node i (every one but the first segment's first, fed by the DMA)."""
        link = self.stage_links[i]
        if link is None:
            raise ModelError(
                f"segment {self.index}: stage node {i} reads the input DMA, not a FIFO"
            )
        return link

    def buffer(self) -> CondBuffer:
        """The conditional buffer after this segment's stage (every non-final segment has one)."""
        if self.cbuf is None:
            raise ModelError(f"segment {self.index} is the final one: it has no conditional buffer")
        return self.cbuf


@dataclass(frozen=True)
class Model:
    """The design as both engines see it."""

    segments: tuple[Segment, ...]
    clock_mhz: float
    name: str = "design"
    # Load shedding (docs/simulator.md, "Load shedding"): a frame whose first beat finds its
    # conditional buffer without room for the whole frame is not stored and leaves at that
    # exit (forced when its policy would have continued); the buffer never back-pressures.
    shedding: bool = False

    @property
    def num_exits(self) -> int:
        return len(self.segments)

    def nodes(self) -> list[NodeTiming]:
        """Every node, segment by segment (stage chain, then branch)."""
        return [n for s in self.segments for n in (*s.stage, *s.branch)]

    def links(self) -> list[Link]:
        """Every FIFO (the input DMA excluded)."""
        out = []
        for s in self.segments:
            out += [ln for ln in s.stage_links if ln is not None]
            out += list(s.branch_links)
            if s.verdict is not None:
                out.append(s.verdict)
        return out

    def with_depths(
        self, fifo: dict[str, int] | None = None, cbuf_frames: dict[str, int] | None = None
    ) -> Model:
        """A copy with some FIFO depths (by link name) or buffer depths (frames) replaced."""
        fifo, cbuf_frames = dict(fifo or {}), dict(cbuf_frames or {})
        known = {ln.name for ln in self.links()}
        bad = sorted(set(fifo) - known)
        if bad:
            raise ModelError(f"no FIFO named {bad}; the streams are: {', '.join(sorted(known))}")
        known_c = {s.cbuf.name for s in self.segments if s.cbuf is not None}
        bad = sorted(set(cbuf_frames) - known_c)
        if bad:
            raise ModelError(f"no conditional buffer named {bad}; they are: {sorted(known_c)}")

        def link(ln: Link) -> Link:
            if ln.name not in fifo:
                return ln
            if fifo[ln.name] < 1:
                raise ModelError(f"FIFO {ln.name}: depth must be >= 1, got {fifo[ln.name]}")
            return Link(ln.name, fifo[ln.name] + ln.extra, ln.extra)

        segs = []
        for s in self.segments:
            cbuf = s.cbuf
            if cbuf is not None and cbuf.name in cbuf_frames:
                d = cbuf_frames[cbuf.name]
                extra = cbuf.capacity - cbuf.frame_beats * cbuf.depth_frames
                cbuf = CondBuffer(cbuf.name, cbuf.frame_beats, d, d * cbuf.frame_beats + extra)
            segs.append(
                replace(
                    s,
                    stage_links=tuple(link(ln) if ln else None for ln in s.stage_links),
                    branch_links=tuple(link(ln) for ln in s.branch_links),
                    verdict=link(s.verdict) if s.verdict else None,
                    cbuf=cbuf,
                )
            )
        return replace(self, segments=tuple(segs))


def check_model(model: Model) -> None:
    """Rates must chain (a writer's beats per frame = its reader's); raises ModelError."""
    if not model.segments:
        raise ModelError("a design needs at least one exit")
    prev_out: int | None = None
    for k, s in enumerate(model.segments):
        if not s.stage or not s.branch:
            raise ModelError(f"segment {k}: needs at least one stage node and one head node")
        if len(s.stage_links) != len(s.stage) or len(s.branch_links) != len(s.branch):
            raise ModelError(f"segment {k}: one link per node expected")
        if (s.stage_links[0] is None) != (k == 0):
            raise ModelError(f"segment {k}: only segment 0 reads the input DMA")
        last = k == len(model.segments) - 1
        if last != (s.cbuf is None) or last != (s.verdict is None):
            raise ModelError(f"segment {k}: non-final exits need a decision and a buffer")
        chain = [*s.stage, *s.branch]
        if prev_out is not None and chain[0].in_beats != prev_out:
            raise ModelError(
                f"{chain[0].name} reads {chain[0].in_beats} beats per frame, but the stage "
                f"before writes {prev_out}: the stream widths disagree"
            )
        for n in (*s.stage[1:], *s.branch) if len(s.stage) > 1 else s.branch:
            if n.fzk is not None and (n.fzk >= n.out_beats).any():
                raise ModelError(
                    f"{n.name}: only a one-node stage's reads freeze behind its writes"
                )
        for a, b in zip(s.stage, s.stage[1:]):
            _check_rate(a, b)
        _check_rate(s.stage[-1], s.branch[0])
        for a, b in zip(s.branch, s.branch[1:]):
            _check_rate(a, b)
        if s.verdict is not None and s.branch[-1].out_beats != 1:
            raise ModelError(f"decision unit {s.branch[-1].name} must write one beat per frame")
        if s.cbuf is not None and s.cbuf.frame_beats != s.stage[-1].out_beats:
            raise ModelError(
                f"{s.cbuf.name}: frame_beats {s.cbuf.frame_beats} != {s.stage[-1].name}'s "
                f"out_beats {s.stage[-1].out_beats}"
            )
        prev_out = s.stage[-1].out_beats


def _check_rate(writer: NodeTiming, reader: NodeTiming) -> None:
    if writer.out_beats != reader.in_beats:
        raise ModelError(
            f"{writer.name} writes {writer.out_beats} beats per frame but {reader.name} reads "
            f"{reader.in_beats}: the stream between them must carry the same beats per frame"
        )


def as_int_array(values: np.ndarray | list[int], n: int, what: str) -> np.ndarray:
    """int64 [n] copy of `values`, or ModelError naming `what`."""
    arr = np.asarray(values, dtype=np.int64)
    if arr.shape != (n,):
        raise ModelError(f"{what} must have one entry per frame ({n}), got shape {arr.shape}")
    return arr
