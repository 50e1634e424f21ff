"""The `cosim` step: the whole generated RTL top in Verilator on real test frames.

The RTL rung of the verification ladder. It generates the top from build/ (hwdesc and the
partitions' checkpoints, FIFO and buffer depths from the simulator's sizing in sim/report.json),
builds it in Verilator (cached by a digest of the sources under build/rtl/verilator), feeds it
`rtl.frames` test images (export/reference.npz's, then the dataset's) arriving as `sim.arrival` says, and checks every
frame's exit, class and logits against quant/'s reference (brevitas: an independent
implementation). It also runs the cycle simulator on the same frames, arrival and depths and
reports the throughput ratio and whether results leave in the same order; that gap fails the
step only when `rtl.max_fps_gap` is set. A design built without some exits (hw.keep_exits) is
checked in the top's numbering: reference.npz's exits and logits are mapped through hwdesc's
policy.trained_exits (exitflow.sim.decisions.reference_view). Writes rtl/report.json, rtl/report.md, rtl/frames.npz.
Its pieces are public so that benchmarks/bench_rtl.py measures exactly what the step checks.
"""

from __future__ import annotations

import io
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from exitflow.core.errors import (
    ConfigError,
    DataError,
    PrerequisiteError,
    ToolMissingError,
    VerificationError,
)
from exitflow.core.files import write_bytes, write_json, write_text
from exitflow.hw.rtl_config import CosimMode, RtlConfig
from exitflow.results import RtlResult
from exitflow.rtl_top_dirs import prune_stale_tops, top_key
from exitflow.run import Run
from exitflow.sim.arrival import arrival_cycles
from exitflow.sim.config import SimConfig
from exitflow.sim.decisions import reference_view, trained_exits
from exitflow.sim.hwdesc import load_hwdesc
from exitflow.step_rtl_sim import compare_simulator, measured_timing, rtl_fps, sim_model_for
from exitflow.steps import STEPS

__all__ = [
    "NEVER_FIRES",
    "compare_reference",
    "compare_simulator",
    "cosim_step",
    "prepare",
    "rtl_fps",
    "sim_model_for",
    "step_cosim",
    "top_key",
]

log = logging.getLogger(__name__)

# from this many frames the top is compiled for speed (hw.top.cosim.build_top_model long_run):
# the longer compile (about +45 CPU s on fmnist3) pays back within about 1,000 frames
LONG_RUN_FRAMES = 1000

# A threshold register value no decision unit reaches: exit_unit clamps it to 2^W, above every
# max-logit and margin of W-bit logits (the two policies the RTL decision unit implements).
NEVER_FIRES = 0x7FFF_FFFF


def cosim_step(run: Run) -> RtlResult:
    """Co-simulate the run's generated RTL top; write rtl/{report.json, report.md, frames.npz}.

    rtl.cosim skip, or auto on a machine without Verilator or a design with a layer FINN has in
    HLS only: the report records the skip and its reason. Raises ToolMissingError /
    PrerequisiteError for those under rtl.cosim required, VerificationError (outputs kept) when a
    frame's exit, class or logits differ from export/reference.npz or the throughput gap
    exceeds rtl.max_fps_gap.
    """
    lay, rc = run.layout, run.cfg.rtl
    if rc.cosim == CosimMode.SKIP:
        return _skip(run, "rtl.cosim is skip", "set rtl.cosim: auto (or required)")
    try:
        design, model = prepare(
            run.run_dir, frames=rc.frames, jobs=rc.jobs, sim_report=lay.sim_report
        )
    except (ToolMissingError, PrerequisiteError) as exc:
        if rc.cosim == CosimMode.REQUIRED:
            raise
        return _skip(run, str(exc), "fix the above, or set rtl.cosim: skip to skip on purpose")
    prune_stale_tops(run, design.rtl_dir)  # earlier settings' tops: hundreds of MB each
    desc = load_hwdesc(lay.hwdesc)
    with np.load(lay.reference) as data:
        ref = {k: data[k] for k in data.files}
    kept = trained_exits(desc)
    if kept is not None:  # hw.keep_exits: the top's exits are the kept ones, numbered 0..K-1
        ref = reference_view(ref, kept)
    total = len(ref["exit_index"])
    n = min(rc.frames, total - rc.first_image)
    if n < 1:
        raise ConfigError(
            f"rtl.first_image {rc.first_image}: export/reference.npz has {total} test images; "
            "lower it"
        )
    ref = _with_images(run, ref, rc.first_image + n)
    arrival = arrival_cycles(run.cfg.sim, n)
    log.info("cosim: %d frames through %s (%s arrival)", n, design.name, run.cfg.sim.arrival)
    from exitflow.hw.top import cosim

    t0 = time.perf_counter()
    res = cosim(
        design, ref, frames=n, first_image=rc.first_image, arrival="trace",
        trace=arrival.tolist(), backpressure=rc.backpressure, seed=rc.seed, model=model,
        workers=rc.workers,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    checks = compare_reference(res, ref)
    exits = np.asarray(ref["exit_index"][rc.first_image : rc.first_image + n], np.int64)
    estimates = compare_simulator(design, res, desc, run.cfg.sim, exits, arrival)
    timing, reused = measured_timing(run.run_dir, design, jobs=rc.jobs)
    fidelity = compare_simulator(design, res, desc, run.cfg.sim, exits, arrival, timing)
    fidelity["timing_reused"] = reused
    report = _report(design, res, rc, run.cfg.sim, checks, fidelity, wall, model, estimates)
    _write(lay.rtl_dir, report, res, ref, fidelity)
    log.info(
        "cosim: %d frames, %d exit / %d class / %d logit mismatches; rtl/sim fps %.4f with "
        "measured timing (%.4f with FINN's estimates), result order %s the simulator's",
        n, checks["exit_mismatches"], checks["class_mismatches"], checks["logit_mismatches"],
        fidelity["fps_ratio"], estimates["fps_ratio"],
        "equals" if fidelity["order_equal"] else "differs from",
    )  # fmt: skip
    if checks["mismatched_frames"] or checks["counters"] != checks["exit_histogram"]:
        from exitflow.hw.top import check_against_reference

        try:
            check_against_reference(design, res, ref)
        except VerificationError as exc:
            raise VerificationError(
                f"{exc} ({checks['mismatched_frames']} of {n} frames differ; every frame is in "
                f"{lay.rel(lay.rtl_frames)}, the counts in {lay.rel(lay.rtl_report)})"
            ) from exc
    gap = abs(fidelity["fps_ratio"] - 1.0)
    if rc.max_fps_gap is not None and gap > rc.max_fps_gap:
        raise VerificationError(
            f"the RTL runs at {fidelity['fps_ratio']:.4f} x the cycle simulator's throughput on "
            f"the same frames (measured partition timing), beyond rtl.max_fps_gap {rc.max_fps_gap}: the simulator's "
            f"timing model differs from the RTL (see {lay.rel(lay.rtl_report_md)}). Fix: the "
            "node timings in sim/, or raise rtl.max_fps_gap"
        )
    return RtlResult(
        lay.rtl_report, None, n, checks["exit_mismatches"], checks["class_mismatches"],
        checks["logit_mismatches"], fidelity["rtl_fps"], fidelity["sim_fps"],
        fidelity["fps_ratio"], fidelity["order_equal"],
    )  # fmt: skip


def prepare(
    run_dir: str | Path,
    *,
    frames: int = 1,
    jobs: int = 1,
    sim_report: str | Path | None = None,
    verilator: Any = None,
) -> tuple[Any, Any]:
    """(TopDesign, VerilatedModel): the top generated under build/rtl/ and built in Verilator.

    Frame ids are wide enough for `frames` (at least 16 bits). Raises ToolMissingError without
    Verilator (checked first: it is cheap) and PrerequisiteError for a partition holding a layer
    FINN has in HLS only (its message names `hw.mvau_style: dsp`).
    """
    from exitflow.hw.tools.verilator import find_verilator
    from exitflow.hw.top import generate_top
    from exitflow.hw.top.cosim import build_top_model

    tool = verilator or find_verilator()
    id_bits = max(16, math.ceil(math.log2(max(2, frames))))
    key = top_key(run_dir, id_bits=id_bits, sim_report=sim_report)
    out = Path(run_dir).resolve() / "build" / "rtl" / f"top-{key}"
    design = generate_top(run_dir, id_bits=id_bits, sim_report=sim_report, out_dir=out)
    design.meta["settings_key"] = key
    t0 = time.perf_counter()
    model = build_top_model(
        design, verilator=tool, jobs=jobs, workdir=out.parent / "verilator",
        long_run=frames >= LONG_RUN_FRAMES,
    )  # fmt: skip
    secs = time.perf_counter() - t0
    log.info(
        "cosim: Verilator model of %s %s in %.1f s",
        design.name, "reused" if model.cached else "built", secs,
    )  # fmt: skip
    design.meta["verilator_seconds"] = round(secs, 2)
    design.meta["verilator_cached"] = bool(model.cached)
    return design, model


def compare_reference(res: Any, ref: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per-frame exit, class and logits of a co-simulation against quant/'s reference, counted
    (hw.top.check_against_reference raises at the first difference; this counts them all)."""
    n, first = len(res.records), res.first_image
    want_exit = np.asarray(ref["exit_index"][first : first + n], np.int64)
    want_cls = np.asarray(ref["pred"][first : first + n], np.int64)
    exits, classes = res.exits, res.classes
    bad_exit = exits != want_exit
    bad_cls = classes != want_cls
    bad_logit = np.zeros(n, bool)
    for i, r in enumerate(res.records):
        if r.logits is not None:
            want = np.asarray(ref["logits"][first + i, r.exit], np.int64)
            bad_logit[i] = not np.array_equal(r.logits, want)
    hist = np.bincount(exits, minlength=len(res.counters)).tolist()
    bad = bad_exit | bad_cls | bad_logit
    return {
        "frames": n,
        "exit_mismatches": int(bad_exit.sum()),
        "class_mismatches": int(bad_cls.sum()),
        "logit_mismatches": int(bad_logit.sum()),
        "logits_checked": all(r.logits is not None for r in res.records),
        "mismatched_frames": int(bad.sum()),
        "first_mismatch": int(np.flatnonzero(bad)[0]) if bad.any() else None,
        "exit_histogram": hist,
        "reference_exit_histogram": np.bincount(want_exit, minlength=len(hist)).tolist(),
        "counters": list(res.counters),
        "forced_exits": int(sum(r.forced for r in res.records)),
    }


def _with_images(run: Run, ref: dict[str, np.ndarray], need: int) -> dict[str, np.ndarray]:
    """reference.npz keeps the first 1,000 images (quant.export.BOUNDARY_SAMPLES) beside every
    test image's logits; for more frames the test split is read from the dataset, checked equal
    to the stored images where both have them."""
    have = len(ref["input"])
    if need <= have:
        return ref
    from exitflow.quant.data import load_splits

    images = load_splits(run.cfg.dataset, run.data_root).test.images
    if len(images) != len(ref["exit_index"]) or not np.array_equal(images[:have], ref["input"]):
        raise DataError(
            f"the test split of {run.cfg.dataset.name} under {run.data_root} ({len(images)} "
            f"images) is not the one export/reference.npz was made from "
            f"({len(ref['exit_index'])} images): rerun `exitflow export`, or lower rtl.frames "
            f"to {have}"
        )
    log.info("cosim: images %d..%d from the dataset's test split", have, need - 1)
    return {**ref, "input": images}


def _skip(run: Run, reason: str, fix: str) -> RtlResult:
    lay = run.layout
    log.warning("cosim skipped: %s", reason)
    write_json(lay.rtl_report, {"skipped": True, "reason": reason, "fix": fix})
    write_text(lay.rtl_report_md, f"# RTL co-simulation\n\n**Skipped:** {reason}\n\nFix: {fix}\n")
    return RtlResult(lay.rtl_report, reason)


def _report(
    design: Any,
    res: Any,
    rc: RtlConfig,
    sim_cfg: SimConfig,
    checks: dict[str, Any],
    fid: dict[str, Any],
    wall: float,
    model: Any,
    estimates: dict[str, Any],
) -> dict[str, Any]:
    public = {k: v for k, v in fid.items() if not k.startswith("_")}
    est = {k: v for k, v in estimates.items() if not k.startswith("_")}
    return {
        "skipped": False,
        "design": design.plan.design,
        "top": design.name,
        "frames": checks["frames"],
        "first_image": res.first_image,
        "exit_mismatches": checks["exit_mismatches"],
        "class_mismatches": checks["class_mismatches"],
        "logit_mismatches": checks["logit_mismatches"],
        "fps_ratio": public["fps_ratio"],
        "order_equal": public["order_equal"],
        "rtl_fps": public["rtl_fps"],
        "sim_fps": public["sim_fps"],
        "headline_timing": "measured RTL partition timing (build/rtl/timing.json)",
        "fps_ratio_estimates": est["fps_ratio"],
        "order_equal_estimates": est["order_equal"],
        "sim_fps_estimates": est["sim_fps"],
        "cycles": res.cycles,
        "chunks": [list(c) for c in res.extra.get("chunks", [])],
        "workers": rc.workers,
        "rtl_seconds": round(wall, 3),
        "rtl_cycles_per_second": res.cycles / wall if wall else None,
        "arrival": str(sim_cfg.arrival),
        "backpressure": rc.backpressure,
        "seed": rc.seed,
        "max_fps_gap": rc.max_fps_gap,
        "depth_source": design.plan.depth_source,
        "verilator_seconds": design.meta.get("verilator_seconds"),
        "verilator_cached": design.meta.get("verilator_cached"),
        "verilator_key": model.meta.get("key"),
        "reference": checks,
        "simulator": public,
        "simulator_estimates": est,
    }


def _write(
    out: Path, rep: dict[str, Any], res: Any, ref: dict[str, np.ndarray], fid: dict[str, Any]
) -> None:
    n, first = len(res.records), res.first_image
    sim = fid["_sim"]
    width = next((r.logits.size for r in res.records if r.logits is not None), 0)
    blank = np.zeros(width, np.int64)
    logits = np.array([blank if r.logits is None else r.logits for r in res.records], np.int64)
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        frame=np.arange(n, dtype=np.int64),
        image=np.arange(first, first + n, dtype=np.int64),
        exit_index=res.exits,
        pred=res.classes,
        logits=logits,
        forced=np.array([r.forced for r in res.records], bool),
        entry_cycle=np.array([r.entry_cycle for r in res.records], np.int64),
        result_cycle=np.array([r.result_cycle for r in res.records], np.int64),
        output_order=np.asarray(res.output_order, np.int64),
        ref_exit_index=np.asarray(ref["exit_index"][first : first + n], np.int64),
        ref_pred=np.asarray(ref["pred"][first : first + n], np.int64),
        sim_start=sim.start,
        sim_finish=sim.finish,
        sim_order=fid["_sim_order"],  # sim_* cover the first chunk: sim_frames frames
        sim_frames=np.int64(len(sim.finish)),
    )
    write_bytes(out / "frames.npz", buf.getvalue())
    write_json(out / "report.json", rep)
    write_text(out / "report.md", _markdown(rep))


def _markdown(rep: dict[str, Any]) -> str:
    ref, fid = rep["reference"], rep["simulator"]
    ok = rep["exit_mismatches"] == rep["class_mismatches"] == rep["logit_mismatches"] == 0
    verdict = "all equal" if ok else f"**{ref['mismatched_frames']} frames differ**"
    lines = [
        f"# RTL co-simulation of `{rep['top']}`",
        "",
        f"{rep['frames']} test frames (images {rep['first_image']}.."
        f"{rep['first_image'] + rep['frames'] - 1}), {rep['arrival']} arrival, output "
        f"back-pressure {rep['backpressure']}, Verilator {rep['rtl_seconds']:.1f} s for "
        f"{rep['cycles']:,} cycles.",
        "",
        "## Against quant/'s reference (export/reference.npz)",
        "",
        f"- exit, class and logits of every frame: {verdict}",
        f"- mismatches: {rep['exit_mismatches']} exit, {rep['class_mismatches']} class, "
        f"{rep['logit_mismatches']} logit",
        f"- exit histogram {ref['exit_histogram']} (reference {ref['reference_exit_histogram']}),"
        f" AXI-Lite counters {ref['counters']}",
        "",
        "## Against the cycle simulator (same frames, arrival and depths)",
        "",
        f"With the partition timing measured in RTL ({fid['frames_compared']} frames of one "
        f"run from reset); with FINN's estimates alone the ratio is "
        f"{rep['fps_ratio_estimates']:.4f} and the order "
        f"{'equal' if rep['order_equal_estimates'] else 'different'}.",
        "",
        f"- throughput: RTL {fid['rtl_fps']:.1f} fps, simulator {fid['sim_fps']:.1f} fps, "
        f"ratio {fid['fps_ratio']:.4f}"
        + (f" (limit 1 +- {rep['max_fps_gap']})" if rep["max_fps_gap"] is not None else ""),
        f"- result order: {'equal' if fid['order_equal'] else 'different'} "
        f"({fid['order_positions_equal']} of {fid['frames_compared']} positions equal; every "
        f"chunk, each from reset: {fid.get('order_positions_equal_all_chunks', '-')} of "
        f"{fid.get('order_frames_all_chunks', '-')})",
        f"- mean latency: RTL {fid['rtl_mean_latency_cycles']:.0f} cycles, simulator "
        f"{fid['sim_mean_latency_cycles']:.0f}",
    ]
    if fid["depths_not_in_sim"]:
        lines.append(f"- top FIFOs the simulator has no link for: {fid['depths_not_in_sim']}")
    return "\n".join(lines) + "\n"


step_cosim = STEPS["cosim"]
