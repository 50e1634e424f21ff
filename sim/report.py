"""sim/ artefacts: report.json, report.md, frames.npz (and the plot and trace, elsewhere)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from exitflow.core.files import write_bytes, write_json, write_text
from exitflow.sim.analysis import exit_fractions, latency, throughput_fps
from exitflow.sim.model import Model
from exitflow.sim.result import RunResult
from exitflow.sim.streams import STREAMS

SIZING_CASES = ("exit_sequence", "worst_case")  # keys of the sizing section
NOT_MEANINGFUL = " (not meaningful: run too short)"

__all__ = [
    "NOT_MEANINGFUL",
    "SIZING_CASES",
    "buffer_table",
    "build_report",
    "report_markdown",
    "save_frames",
    "write_report",
]


def save_frames(r: RunResult, pred: np.ndarray, path: Path) -> Path:
    """Per frame: id, exit index, class, arrival, start and finish cycle (npz, atomic)."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        frame=np.arange(r.num_frames, dtype=np.int64),
        exit_index=r.exit_index,
        pred=np.asarray(pred, np.int64),
        arrival=r.arrival,
        start=r.start,
        finish=r.finish,
    )
    return write_bytes(path, buf.getvalue())


def buffer_table(model: Model, r: RunResult, sized: dict | None) -> list[dict[str, Any]]:
    """Every buffer: configured depth, maximum occupancy, and the sized minimum if searched."""
    rows = []
    for s in model.segments:
        if s.cbuf is not None:
            rows.append(
                {
                    "name": s.cbuf.name,
                    "unit": "frames",
                    "depth": s.cbuf.depth_frames,
                    # beats held, in frames: the fill that the depth in frames bounds
                    "max_occupancy": round(r.max_occupancy[s.cbuf.name] / s.cbuf.frame_beats, 3),
                    "max_beats": r.max_occupancy[s.cbuf.name],
                    "max_frames_touched": r.max_occupancy[f"{s.cbuf.name}.frames"],
                    "capacity_beats": s.cbuf.capacity,
                    **{
                        k: sized[k]["cond_buffer_frames"][s.cbuf.name]
                        for k in SIZING_CASES
                        if sized
                    },
                }
            )
    for ln in model.links():
        rows.append(
            {
                "name": ln.name,
                "unit": "beats",
                "depth": ln.depth,
                "max_occupancy": r.max_occupancy.get(ln.name),
                **{k: sized[k]["fifo_beats"][ln.name] for k in SIZING_CASES if sized},
            }
        )
    return rows


def build_report(
    model: Model,
    r: RunResult,
    *,
    mismatches: int,
    noexit: dict[str, Any],
    head: dict[str, Any],
    sized: dict[str, Any] | None,
    meta: dict[str, Any],
    length: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report as JSON-ready data; the scalar headline figures come first.

    length: sim.analysis.run_length of the run; when it says short_run, the steady-state figures
    (throughput, gain, bound fraction, no-exit ratio) are flagged as not meaningful.
    """
    clock = model.clock_mhz
    lat = latency(r, clock)
    return {
        "frames": r.num_frames,
        "exit_mismatches": mismatches,
        # beside the figures it qualifies, so that no reader of the JSON can miss it
        "short_run": bool(length and length["short_run"]),
        "short_run_reasons": list(length["reasons"]) if length else [],
        "throughput_fps": throughput_fps(r, clock),
        "latency_p50_us": lat["latency_us"]["p50"],
        "latency_p99_us": lat["latency_us"]["p99"],
        "gain_over_baseline": head.get("gain_raw"),
        "gain_equal_resources": head.get("gain_equal_resources"),
        "bound": head.get("bound"),
        "fraction_of_bound": head.get("fraction_of_bound"),
        "noexit_fps": noexit["fps"],
        "noexit_fps_over_finn_estimate": noexit["ratio"],
        "makespan_cycles": r.cycles,
        "clock_mhz": clock,
        **meta,
        "exit_fractions": exit_fractions(r.exit_index, model.num_exits),
        **lat,
        "noexit_check": noexit,
        "headline": head,
        "run_length": length,
        "buffers": buffer_table(model, r, sized),
        "max_occupancy": r.max_occupancy,
        "stalls": r.stalls,
        "blocked_by": r.blocked_by,
        "sizing": sized,
    }


def _fmt(v: Any, spec: str = ".4g") -> str:
    return "n/a" if v is None else format(v, spec) if isinstance(v, float) else str(v)


def _shedding_lines(sh: dict[str, Any] | None) -> list[str]:
    """hw.load_shedding's figures (sim.shed_report), or nothing for a single-exit design."""
    if not sh or "noexit_fps_with" not in sh:
        return []
    per = ", ".join(f"exit {e}: {n}" for e, n in enumerate(sh["noexit_forced_per_exit"]))
    return [
        f"- load shedding ({sh['setting']}): **{'enabled' if sh['enabled'] else 'disabled'}**; "
        f"forced exits in this run: {sh.get('forced', 0)}",
        f"- no-exit stream: {_fmt(sh['noexit_fps_without'], '.1f')} frames/s without shedding, "
        f"{_fmt(sh['noexit_fps_with'], '.1f')} with; baseline {_fmt(sh['baseline_fps'], '.1f')}",
        f"- no-exit stream with shedding, {sh['noexit_frames']} frames: {sh['noexit_forced']} "
        f"forced ({per}); accuracy kept {sh['accuracy_kept']:.2%} (final exit alone "
        f"{sh['accuracy_final_exit']:.2%})",
        "",
    ]


def _stream_lines(st: dict[str, Any] | None) -> list[str]:
    """The three streams' figures (sim.streams), or nothing for a report without them."""
    if not st:
        return []
    burst = (st.get("hard_bursts") or {}).get("burst_frames")
    names = {**STREAMS, "hard_bursts": f"{STREAMS['hard_bursts']} ({burst} frames)"}
    lines = ["## Three streams (same frames and arrival; shedding "
             f"{'on' if st.get('shedding') else 'off'})", "",
             "| stream | frames/s | accuracy | forced |", "|---|---|---|---|"]  # fmt: skip
    for key, name in names.items():
        f = st.get(key) or {}
        lines.append(f"| {name} | {_fmt(f.get('fps'), '.1f')} | {_fmt(f.get('accuracy'), '.4f')} "
                     f"| {f.get('forced', 'n/a')} |")  # fmt: skip
    return [*lines, ""]


def report_markdown(rep: dict[str, Any]) -> str:
    """Human-readable summary of build_report's data."""
    h = rep["headline"]
    short = rep.get("short_run", False)
    mark = NOT_MEANINGFUL if short else ""
    noexit_mark = NOT_MEANINGFUL if (rep.get("noexit_check") or {}).get("short_run") else ""
    lines = [
        f"# Cycle-level simulation: {rep.get('design', '')}",
        "",
        f"{rep['frames']} frames, {rep.get('arrival', 'saturated')} input, {rep['clock_mhz']} MHz, "
        f"{rep.get('engine', 'fast')} engine ({_fmt(rep.get('simulate_seconds'), '.2f')} s).",
        "",
    ]
    if short:
        length = rep.get("run_length") or {}
        lines += [
            f"**Too short to mean anything: {rep['frames']} frames.** Throughput, gain, bound, "
            "fraction of the bound and exit fractions are not steady-state figures: "
            + "; ".join(rep.get("short_run_reasons", []))
            + (
                f". Simulate at least {length['frames_needed']} frames (`sim.frames`)."
                if length.get("frames_needed")
                else ". Simulate more frames (`sim.frames`)."
            ),
            "",
        ]
    lines += [
        f"- exit check against the software model: **{rep['exit_mismatches']} mismatches**",
        f"- throughput: **{_fmt(rep['throughput_fps'], '.1f')} frames/s**{mark}",
        "- exits: "
        + ", ".join(f"exit {e}: {p:.1%}" for e, p in enumerate(rep["exit_fractions"]))
        + mark,
        f"- no exit (worst case): {_fmt(rep['noexit_fps'], '.1f')} frames/s = "
        f"{_fmt(rep['noexit_fps_over_finn_estimate'], '.4f')} x FINN's estimate{noexit_mark}",
        "",
        *_shedding_lines(rep.get("load_shedding")),
        *_stream_lines(rep.get("streams")),
        "## Gain over the single-exit baseline",
        "",
    ]
    if h.get("baseline_fps"):
        ratios = ", ".join(f"{k} {v:.2f}x" for k, v in h["resource_ratios"].items())
        lines += [
            f"- baseline: {h['baseline_fps']:.1f} frames/s; raw gain {h['gain_raw']:.3f}x",
            f"- resources of the gated design over the baseline's: {ratios}",
            f"- gain at equal resources (divided by the {h['normalised_by']} ratio): "
            f"**{_fmt(h['gain_equal_resources'], '.3f')}x**{mark}",
        ]
    else:
        lines.append("- no baseline in the hardware description")
    lines += [
        f"- physical bound 1 / sum_k f_k P_k = {_fmt(h.get('bound'), '.3f')}x with P_k = "
        f"{[round(p, 4) for p in h['reach_fractions']]}, f_k = "
        f"{None if h['compute_shares'] is None else [round(f, 4) for f in h['compute_shares']]} "
        f"({h['compute_shares_source']}){mark}",
        f"- fraction of the bound reached: **{_fmt(h.get('fraction_of_bound'), '.3f')}**{mark}",
        "",
        "## Latency (first read to result)",
        "",
        "| | p50 | p90 | p99 | max |",
        "|---|---|---|---|---|",
    ]
    for unit in ("cycles", "us"):
        q = rep[f"latency_{unit}"]
        lines.append(
            f"| {unit} | "
            + " | ".join(_fmt(q[k], ".1f") for k in ("p50", "p90", "p99", "max"))
            + " |"
        )
    sized_keys = list(SIZING_CASES) if rep.get("sizing") else []
    lines += [
        "",
        "## Buffers",
        "",
        "| buffer | unit | depth | max occupancy | "
        + " | ".join(f"min ({k})" for k in sized_keys)
        + " |",
        "|---|---|---|---|" + "---|" * len(sized_keys),
    ]
    for b in rep["buffers"]:
        cells = [
            b["name"],
            b["unit"],
            b["depth"],
            b["max_occupancy"],
            *(b.get(k) for k in sized_keys),
        ]
        lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
    for u in rep.get("undersized") or []:
        lines.append(
            f"\n**{u['buffer']} is too small**: {u['depth']} {u['unit']}, {u['needed']} needed to "
            f"lose no throughput; it blocked {', '.join(u['blocked']) or 'no node'}. "
            f"Fix: {u.get('fix', '')}"
        )
    lines += [
        "",
        "## Stalls (cycles)",
        "",
        "| node | blocked (output full) | by | full (frames in flight) | starved (input empty) |",
        "|---|---|---|---|---|",
    ]
    for name, s in rep["stalls"].items():
        by = ", ".join(f"{b}: {c}" for b, c in rep["blocked_by"].get(name, {}).items())
        lines.append(f"| {name} | {s['blocked']} | {by} | {s['full']} | {s['starved']} |")
    return "\n".join(lines) + "\n"


def write_report(rep: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """report.json and report.md under out_dir."""
    return write_json(out_dir / "report.json", rep), write_text(
        out_dir / "report.md", report_markdown(rep)
    )
