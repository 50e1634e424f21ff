"""One full simulation of a built design on a test set: exit check, timing, sizing, report files.

Used by `exitflow simulate` (exitflow.step_sim) and by benchmarks/bench_sim.py.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from exitflow.core.files import write_json
from exitflow.core.outputs import Outputs
from exitflow.core.policies import PolicySpec, policy_dict
from exitflow.core.progress import NullProgress, Progress
from exitflow.sim.analysis import headline, noexit_check, run_length, span_cycles
from exitflow.sim.arrival import arrival_cycles
from exitflow.sim.config import SimConfig
from exitflow.sim.decisions import compare_exits, decide_frames, never_exit
from exitflow.sim.design import model_from_hwdesc
from exitflow.sim.errors import ExitMismatchError
from exitflow.sim.hwdesc import HwDesc
from exitflow.sim.model import Model
from exitflow.sim.plots import plot_occupancy
from exitflow.sim.report import build_report, save_frames, write_report
from exitflow.sim.result import RunResult
from exitflow.sim.run import simulate
from exitflow.sim.shed_report import apply_load_shedding, forced_counts
from exitflow.sim.sizing import size_buffers, sizing_probe_count
from exitflow.sim.streams import stream_figures
from exitflow.sim.trace import write_trace

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a simulation produced."""

    report: dict[str, Any]
    result: RunResult
    pred: np.ndarray
    files: list[Path]


def check_exits(
    outputs: Outputs, spec: PolicySpec, n: int, out_dir: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Decide every frame as the decision units do; raise ExitMismatchError on any disagreement."""
    if outputs.exit_index is None or outputs.pred is None:
        raise ValueError(
            "the outputs have no exit_index/pred: give export/reference.npz (`exitflow export`), "
            "not an eval outputs file"
        )
    exit_index, pred = decide_frames(outputs.logits[:n], spec)
    bad = compare_exits(exit_index, pred, outputs.exit_index[:n], outputs.pred[:n])
    if bad:
        for stale in ("report.json", "report.md", "frames.npz"):  # a failed rerun must not pass
            (out_dir / stale).unlink(missing_ok=True)
        write_json(out_dir / "mismatches.json", {"frames": n, "mismatches": bad})
        log.error(
            "%d of %d frames disagree with the software model (see %s)",
            len(bad),
            n,
            out_dir / "mismatches.json",
        )
        raise ExitMismatchError(bad, n)
    (out_dir / "mismatches.json").unlink(missing_ok=True)
    log.info("exit check: all %d frames take the software model's exit and class", n)
    return exit_index, pred


def run_simulation(
    desc: HwDesc,
    outputs: Outputs,
    spec: PolicySpec,
    cfg: SimConfig,
    out_dir: Path,
    progress: Progress | None = None,
    meta: dict[str, Any] | None = None,
    load_shedding: str = "disabled",
) -> Outcome:
    """Check exits, simulate, size buffers, write report.json/.md, frames.npz, plot and trace.

    load_shedding: hw.load_shedding (auto, enabled, disabled), resolved by
    exitflow.sim.shedding.resolve_shedding; the report's `load_shedding` gives the figures."""
    progress = progress or NullProgress()
    if outputs.num_classes != desc.num_classes:
        raise ValueError(
            f"reference.npz has {outputs.num_classes} classes, {desc.source} {desc.num_classes}: "
            "they come from different designs"
        )
    n = outputs.num_samples if cfg.frames is None else min(cfg.frames, outputs.num_samples)
    model = model_from_hwdesc(desc, cfg)
    exit_index, pred = check_exits(outputs, spec, n, out_dir)
    model, shed_info = apply_load_shedding(load_shedding, model, desc, outputs, n)
    arrival = arrival_cycles(cfg, n)
    t0 = time.perf_counter()
    # a trace reads every beat of its window: only then are all beats kept; the plot reads
    # every conditional-buffer beat
    keep = cfg.trace_window is not None or None
    result = simulate(model, exit_index, arrival, keep_events=keep, buffer_events=True)
    seconds = time.perf_counter() - t0
    shed_info["forced"] = int(sum(forced_counts(result, model.num_exits)))
    # FINN's estimate describes the design without shedding (load_shedding has both)
    worst = simulate(replace(model, shedding=False), never_exit(n, model.num_exits))
    length = run_length(result, fill_cycles(model, exit_index))
    noexit = noexit_check(worst, desc)
    noexit_length = run_length(
        worst, fill_cycles(model, never_exit(1, model.num_exits)), sampled=False
    )
    noexit["short_run"] = noexit_length["short_run"]
    if noexit_length["short_run"]:
        # a fill-dominated span says nothing about FINN's steady-state estimate: no verdict
        noexit.update(ok=None, reasons=noexit_length["reasons"])
    if noexit["ok"] is False:
        log.warning(
            "no-exit throughput %.1f fps is %.3f x FINN's estimate (%.1f fps), beyond %.0f%%",
            noexit["fps"],
            noexit["ratio"],
            noexit["finn_estimate_fps"],
            100 * noexit["tolerance"],
        )
    sized = None
    if cfg.size_buffers:
        m = min(n, cfg.size_frames)
        with progress.task("sizing buffers", total=2 * sizing_probe_count(model)) as task:
            seq = size_buffers(model, exit_index[:m], arrival[:m], task.advance)
            none_exit = size_buffers(model, never_exit(m, model.num_exits), None, task.advance)
        sized = {"exit_sequence": seq.as_dict(), "worst_case": none_exit.as_dict(), "frames": m}
    undersized = find_undersized(model, result, sized)
    streams = stream_figures(model, outputs, exit_index, pred, arrival, result)
    head = headline(result, desc, outputs.exit_macs)
    info = {
        "design": desc.design,
        "engine": "fast",
        "arrival": cfg.arrival.value,
        "simulate_seconds": seconds,
        "policy": policy_dict(spec),
        "undersized": undersized,
        "load_shedding": shed_info,
        "streams": streams,
        **(meta or {}),
    }
    rep = build_report(
        model,
        result,
        mismatches=0,
        noexit=noexit,
        head=head,
        sized=sized,
        meta=info,
        length=length,
    )
    files = [save_frames(result, pred, out_dir / "frames.npz"), *write_report(rep, out_dir)]
    png = plot_occupancy(result, out_dir / "occupancy.png", model.clock_mhz)
    files += [png] if png else []
    if cfg.trace_window is not None:
        first, last = sorted(cfg.trace_window)
        files.append(write_trace(result, out_dir / "trace.tsv", first, last))
    return Outcome(rep, result, pred, files)


def fill_cycles(model: Model, exit_index: np.ndarray) -> int:
    """Pipeline fill of a run: one frame through the empty pipeline on its deepest exit path."""
    # the deepest path the run's frames take, not the design's: a run whose frames all leave at
    # exit 0 fills only segment 0
    return max(span_cycles(simulate(model, np.array([e], np.int64))) for e in np.unique(exit_index))


def find_undersized(model: Model, r: RunResult, sized: dict | None) -> list[dict[str, Any]]:
    """Buffers shallower than the sizing found necessary, with the nodes they blocked (logged)."""
    if not sized:
        return []
    need = sized["exit_sequence"]
    have = {s.cbuf.name: (s.cbuf.depth_frames, "frames") for s in model.segments if s.cbuf}
    have.update({ln.name: (ln.depth, "beats") for ln in model.links()})
    out = []
    for name, (depth, unit) in have.items():
        needed = need["cond_buffer_frames" if unit == "frames" else "fifo_beats"][name]
        if depth >= needed:
            continue
        blocked = {node: by[name] for node, by in r.blocked_by.items() if name in by}
        fix = (
            f"set hw.cond_buffer_frames: {needed} (or more) and rebuild; "
            f"sim.cond_buffer_frames: {needed} tries it in simulation first"
            if unit == "frames"
            else f"set sim.fifo_depths: {{{name}: {needed}}} to try it, hw.fifo_depth to build it"
        )
        out.append(
            {
                "buffer": name,
                "depth": depth,
                "needed": needed,
                "unit": unit,
                "blocked": blocked,
                "fix": fix,
            }
        )
        log.warning(
            "%s: %d %s deep, but %d are needed to lose no throughput on the first %d frames; "
            "it blocked %s. Fix: %s",
            name,
            depth,
            unit,
            needed,
            sized["frames"],
            ", ".join(f"{n} for {c} cycles" for n, c in blocked.items()) or "no node (yet)",
            fix,
        )
    return out


def log_headline(rep: dict[str, Any]) -> None:
    """One line a user reads first, and a warning before it when the run is too short."""
    if rep.get("short_run"):
        length = rep["run_length"]
        names = ["throughput", "gain", "bound", "fraction of the bound", "exit fractions"]
        if (rep.get("noexit_check") or {}).get("short_run"):
            names.append("no-exit ratio")
        figures = ", ".join(names[:-1]) + " and " + names[-1]
        needed = length.get("frames_needed")
        log.warning(
            "%d frames are too short for steady-state figures: the %s below are NOT meaningful "
            "(%s)%s",
            rep["frames"],
            figures,
            "; ".join(length["reasons"]),
            f"; simulate at least {needed} frames" if needed else "",
        )
    h = rep["headline"]
    gain = h.get("gain_equal_resources")
    bound, frac = h.get("bound"), h.get("fraction_of_bound")
    log.info(
        "simulated %d frames: %.1f frames/s (%.3g x baseline at equal %s; bound %.3g x, %.1f%% of "
        "it); latency p50 %.1f us, p99 %.1f us; no-exit %.4f x FINN's estimate",
        rep["frames"],
        rep["throughput_fps"],
        gain if gain is not None else float("nan"),
        h.get("normalised_by") or "resources",
        bound if bound is not None else float("nan"),
        100 * frac if frac is not None else float("nan"),
        rep["latency_p50_us"],
        rep["latency_p99_us"],
        rep["noexit_fps_over_finn_estimate"] or float("nan"),
    )
