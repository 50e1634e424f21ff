"""Co-simulate the generated top in Verilator on real test images, and check it against quant/.

`cosim` packs images the way stage 0 reads them (FINN's packing), feeds them back to back,
periodically or on a trace of arrival cycles, applies random back-pressure on the output
stream, writes registers over AXI-Lite before the stream and reads the counters after it, and
returns one record per frame: id, exit, class, logits, entry and result cycles.
`check_against_reference` compares exit, class and logits of every frame with quant/'s
reference outputs (export/reference.npz, computed by brevitas: an independent implementation)
and names the first frame and the block that disagree.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from exitflow.core.errors import ConfigError, SimulationError, VerificationError
from exitflow.hw.flow import verify
from exitflow.hw.ops import axilite
from exitflow.hw.ops.merge import unpack_output
from exitflow.hw.tools.finn_rtl import pack_stream
from exitflow.hw.tools.stream import BUILD_OPT, RUN_OPT, VerilatedModel, build_model
from exitflow.hw.tools.verilator import Verilator
from exitflow.hw.top.generate import TopDesign

__all__ = [
    "CosimResult",
    "FrameRecord",
    "build_top_model",
    "check_against_reference",
    "cosim",
    "input_words",
]

log = logging.getLogger(__name__)

ARRIVALS = ("back_to_back", "periodic", "trace")


@dataclass(frozen=True)
class FrameRecord:
    """One frame's result as the top delivered it."""

    frame: int
    exit: int
    cls: int
    logits: np.ndarray | None
    forced: bool
    entry_cycle: int  # cycle its first input word was accepted
    result_cycle: int  # cycle its record left the output stream


@dataclass
class CosimResult:
    """Per-frame records in frame order, plus what the run and the registers say."""

    records: list[FrameRecord]
    first_image: int  # frame i is reference image first_image + i
    cycles: int
    counters: list[int]  # records delivered per exit (AXI-Lite, read after the stream)
    frames_in: int
    registers: dict[int, int]
    output_order: list[int]  # frame ids in the order their records left
    wall_s: float
    build_s: float
    cached_build: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def exits(self) -> np.ndarray:
        """Exit index of every frame."""
        return np.array([r.exit for r in self.records], np.int64)

    @property
    def classes(self) -> np.ndarray:
        """Class of every frame."""
        return np.array([r.cls for r in self.records], np.int64)

    def histogram(self, num_exits: int) -> list[int]:
        """Frames per exit."""
        return np.bincount(self.exits, minlength=num_exits).tolist()


def build_top_model(
    design: TopDesign,
    *,
    verilator: Verilator | None = None,
    jobs: int = 1,
    workdir: str | Path | None = None,
    long_run: bool = False,
) -> VerilatedModel:
    """Build (or reuse, cached by a hash of all sources) the Verilator model of the top.

    workdir: the build cache (default `<rtl_dir>/verilator`); its entries are keyed by the
    sources' contents, so tops generated in different folders share one cache.
    long_run: compile for simulation speed (g++ RUN_OPT, the design's assertions compiled out:
    22-25% more cycles per second on the fmnist3 top for about twice the compile time,
    docs/rtl.md). For runs of thousands of frames, whose every record is checked against the
    reference anyway, so an overflow an assertion would name still shows as wrong logits."""
    return build_model(
        design.name,
        design.sources,
        inputs=[design.input],
        outputs=[design.output],
        axilite=design.axilite,
        workdir=Path(workdir) if workdir is not None else design.rtl_dir / "verilator",
        verilator=verilator,
        jobs=jobs,
        opt=RUN_OPT if long_run else BUILD_OPT,
        assertions=not long_run,
    )


def _arrival(mode: str, n: int, period: int | None, trace: Sequence[int] | None) -> np.ndarray:
    if mode == "back_to_back":
        return np.zeros(n, np.uint64)
    if mode == "periodic":
        if not period or period < 1:
            raise ConfigError("arrival 'periodic' needs period >= 1 (cycles between frames)")
        return np.arange(n, dtype=np.uint64) * np.uint64(period)
    if mode == "trace":
        t = np.asarray(trace if trace is not None else [], dtype=np.int64)
        if t.shape != (n,) or (np.diff(t) < 0).any() or (t < 0).any():
            raise ConfigError("arrival 'trace' needs one non-decreasing cycle >= 0 per frame")
        return t.astype(np.uint64)
    raise ConfigError(f"arrival {mode!r}: choose one of {ARRIVALS}")


def cosim(
    design: TopDesign,
    reference: str | Path | dict[str, np.ndarray],
    *,
    frames: int = 100,
    first_image: int = 0,
    arrival: str = "back_to_back",
    period: int | None = None,
    trace: Sequence[int] | None = None,
    backpressure: float = 0.3,
    seed: int = 0,
    reg_writes: Sequence[tuple[int, int]] = (),
    model: VerilatedModel | None = None,
    verilator: Verilator | None = None,
    jobs: int = 1,
    workers: int = 1,
) -> CosimResult:
    """Simulate `frames` reference images (from `first_image`) through the whole top.

    reference: export/reference.npz of the run (or its arrays): its `input` images are fed.
    arrival: back_to_back, periodic (`period` cycles between frame starts) or trace (`trace`:
    each frame's earliest start cycle). backpressure: probability that the output's TREADY is
    low in a cycle. reg_writes: AXI-Lite (address, value) writes before the stream (e.g. a
    threshold, `exitflow.hw.ops.axilite.threshold_addr(k)`). model: a model from
    `build_top_model` (built here if None). workers: simulations run at once on contiguous
    chunks of the frames, each from reset (every frame's exit, class and logits are unaffected;
    cycles in a record are its chunk's, and `extra["chunks"]` gives (first frame, frames,
    cycles) per chunk: take throughput and result order from one chunk).
    """
    ref = dict(np.load(reference)) if not isinstance(reference, dict) else reference
    images = np.asarray(ref["input"])[first_image : first_image + frames]
    n = len(images)
    if n == 0 or n > 1 << design.record.id_bits:
        raise ConfigError(
            f"{n} frames: give 1..{1 << design.record.id_bits} (ids are "
            f"{design.record.id_bits} bits; generate_top(id_bits=...) widens them)"
        )
    model = model or build_top_model(design, verilator=verilator, jobs=jobs)
    starts = _arrival(arrival, n, period, trace).astype(np.int64)
    k = max(1, min(int(workers), n))
    bounds = [round(i * n / k) for i in range(k + 1)]
    chunks = [(bounds[i], bounds[i + 1]) for i in range(k)]

    def one(lo: int, hi: int) -> CosimResult:
        at = starts[lo:hi] - starts[lo]
        return _run_chunk(design, model, images[lo:hi], at, period, backpressure, seed,
                          reg_writes, first_image + lo)  # fmt: skip

    if k == 1:
        return one(0, n)
    with ThreadPoolExecutor(max_workers=k) as pool:  # each run is a subprocess
        parts = list(pool.map(lambda c: one(*c), chunks))
    return _join(parts, first_image)


def input_words(
    design: TopDesign, images: np.ndarray, starts: np.ndarray | None = None
) -> tuple[list[int], np.ndarray]:
    """The top's input stream for `images` (the reference's input array): its words, and each
    word's earliest cycle (a frame's first word at its entry in `starts`; None: back to back)."""
    stage0 = design.plan.parts[design.plan.exits[0].stages[0]].model
    x = verify.to_model_layout(stage0, stage0.graph.input[0].name, images.astype(np.int64))
    fmt = design.input_format
    words = pack_stream(x, fmt.bits, fmt.per_word)
    release = np.zeros(len(words), np.uint64)
    if starts is not None:
        release[:: len(words) // len(images)] = np.asarray(starts, np.uint64)
    return words, release


def _run_chunk(
    design: TopDesign,
    model: VerilatedModel,
    images: np.ndarray,
    starts: np.ndarray,
    period: int | None,
    backpressure: float,
    seed: int,
    reg_writes: Sequence[tuple[int, int]],
    first_image: int,
) -> CosimResult:
    n = len(images)
    words, release = input_words(design, images, starts)
    per_frame = len(words) // n
    n_exit = len(design.plan.exits)
    reads = [
        axilite.MAGIC,
        axilite.EXITS,
        axilite.FRAMES_IN,
        *[axilite.threshold_addr(k) for k in range(n_exit - 1)],
        *[axilite.counter_addr(k) for k in range(n_exit)],
    ]
    # the top's ports can be silent while a frame crosses every partition, or between arrivals
    span = int(design.plan.extra.get("latency_cycles", 0))
    idle = 100_000 + 4 * span + int(period or 0) + int(np.max(np.diff(starts), initial=0))
    run = model.run(
        {design.input.name: words},
        expect={design.output.name: n},
        release={design.input.name: release},
        backpressure=backpressure,
        seed=seed,
        max_idle_cycles=idle,
        reg_writes=list(reg_writes),
        reg_reads=reads,
        check=False,
    )
    if run.status != "done":
        raise SimulationError(
            f"{design.name}: the top stopped by {run.status} after {run.cycles} cycles with "
            f"{len(run.outputs[design.output.name])} of {n} records and "
            f"{len(run.in_cycles[design.input.name])} of {len(words)} input words accepted "
            f"(frames from image {first_image}). Fix: look for a buffer or id FIFO that never "
            "drains (build/rtl/design.json)."
        )
    res = _records(design, run, n, per_frame, first_image)
    res.extra["chunks"] = [(0, n, run.cycles)]
    return res


def _join(parts: list[CosimResult], first_image: int) -> CosimResult:
    """One result from chunk results: frames renumbered, counters summed, cycles summed."""
    records: list[FrameRecord] = []
    order: list[int] = []
    chunks = []
    for p in parts:
        off = len(records)
        records += [replace(r, frame=r.frame + off) for r in p.records]
        order += [i + off for i in p.output_order]
        chunks.append((off, len(p.records), p.cycles))
    head = parts[0]
    counters = [sum(c) for c in zip(*(p.counters for p in parts))]
    return CosimResult(
        records=records,
        first_image=first_image,
        cycles=sum(p.cycles for p in parts),
        counters=counters,
        frames_in=sum(p.frames_in for p in parts),
        registers=head.registers,
        output_order=order,
        wall_s=max(p.wall_s for p in parts),
        build_s=0.0,
        cached_build=True,
        extra={"chunks": chunks},
    )


def _records(design: TopDesign, run: Any, n: int, per_frame: int, first: int) -> CosimResult:
    rf = design.record
    raw = run.outputs[design.output.name]
    fields = unpack_output(raw, len(design.plan.exits), rf.id_bits, rf.class_bits)
    entry = run.in_cycles[design.input.name][::per_frame]
    out_cycles = run.out_cycles[design.output.name]
    by_id: dict[int, FrameRecord] = {}
    order: list[int] = []
    dup: list[int] = []
    for j in range(len(raw)):
        fid = int(fields["frame_id"][j])
        logits = None
        if rf.logits:
            p = int(fields["payload"][j])
            lb, mask = rf.logit_bits, (1 << rf.logit_bits) - 1
            vals = [(p >> (lb * c)) & mask for c in range(rf.num_classes)]
            logits = np.array([v - (1 << lb) if v >> (lb - 1) else v for v in vals], np.int64)
        if fid in by_id or fid >= n:
            dup.append(fid)
            continue
        order.append(fid)
        by_id[fid] = FrameRecord(
            fid, int(fields["exit"][j]), int(fields["class"][j]), logits,
            bool(fields["forced"][j]), int(entry[fid]), int(out_cycles[j]),
        )  # fmt: skip
    missing = sorted(set(range(n)) - set(by_id))
    if missing or dup:
        raise VerificationError(
            f"{design.name}: frames {missing[:10]} got no record and ids {dup[:10]} came twice "
            "or out of range: the id FIFOs and the frames parted company (the merge or an "
            "exit unit lost or repeated a record). Fix: inspect the exit units and id FIFOs."
        )
    regs = run.registers
    if regs.get(axilite.MAGIC) != axilite.MAGIC_VALUE:
        raise VerificationError(
            f"{design.name}: register MAGIC read {regs.get(axilite.MAGIC)!r}, not "
            f"0x{axilite.MAGIC_VALUE:08x}: the AXI-Lite read path is broken."
        )
    n_exit = len(design.plan.exits)
    return CosimResult(
        records=[by_id[i] for i in range(n)],
        first_image=first,
        cycles=run.cycles,
        counters=[regs[axilite.counter_addr(k)] for k in range(n_exit)],
        frames_in=regs[axilite.FRAMES_IN],
        registers=regs,
        output_order=order,
        wall_s=run.wall_s,
        build_s=0.0,
        cached_build=True,
    )


def check_against_reference(
    design: TopDesign, result: CosimResult, reference: str | Path | dict[str, np.ndarray]
) -> dict[str, Any]:
    """Every frame's exit, class and logits against quant/'s reference; raises at the first
    difference, naming the frame, its image and the block (exit k's decision unit, argmax or
    head). Returns a summary (frames, exit histogram, counters)."""
    ref = dict(np.load(reference)) if not isinstance(reference, dict) else reference
    plan = design.plan
    for r in result.records:
        img = result.first_image + r.frame
        want_exit, want_cls = int(ref["exit_index"][img]), int(ref["pred"][img])
        where = f"frame {r.frame} (reference image {img})"
        if r.exit != want_exit:
            k = min(r.exit, want_exit)
            e = plan.exits[k]
            thr = result.registers.get(axilite.threshold_addr(k))
            raise VerificationError(
                f"{where}: the top says exit {r.exit}, quant/ says exit {want_exit}: exit {k}'s "
                f"decision unit ({e.decision}, threshold register {_signed(thr)}, calibrated "
                f"{e.threshold}) decided differently. Fix: check the threshold written to "
                f"0x{axilite.threshold_addr(k):03x} and the unit's policy ({plan.policy_kind})."
            )
        e = plan.exits[r.exit]
        if r.logits is not None:
            want = np.asarray(ref["logits"][img, r.exit], np.int64)
            if not np.array_equal(r.logits, want):
                bad = np.flatnonzero(r.logits != want).tolist()
                raise VerificationError(
                    f"{where}: exit head {e.head}'s logits differ in classes {bad} (top "
                    f"{r.logits.tolist()}, quant/ {want.tolist()}). Fix: inspect partition "
                    f"{e.head} and the stages before it ({', '.join(e.stages)})."
                )
        if r.cls != want_cls:
            unit = e.decision or f"the final argmax unit of exit {r.exit}"
            raise VerificationError(
                f"{where}: class {r.cls}, quant/ says {want_cls} at exit {r.exit}: {unit} "
                "picked another class from equal logits. Fix: inspect exit_unit/exit_decision."
            )
    hist = result.histogram(len(plan.exits))
    if result.counters != hist:
        raise VerificationError(
            f"{design.name}: the exit counters read {result.counters} over AXI-Lite but the "
            f"records give {hist}. Fix: inspect axilite_regs' counter inputs."
        )
    return {"frames": len(result.records), "exit_histogram": hist, "counters": result.counters}


def _signed(v: int | None) -> int | None:
    return None if v is None else (v - (1 << 32) if v >> 31 else v)
