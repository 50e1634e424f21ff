"""The figures behind the run's HTML report, read from the steps' own reports.

`collect(run_dir)` returns JSON-ready data (it goes into report.json as `headline` and
`figures`): the headline numbers with the file each came from, and the data of every plot.
A figure the run cannot give yet is `None` with the step that produces it in `missing`.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from exitflow.layout import RunLayout

__all__ = ["HEADLINE", "collect", "design_built", "load_reports"]

log = logging.getLogger(__name__)

# headline rows: (key, label, step that produces it)
HEADLINE = [
    ("accuracy", "accuracy (calibrated policy, test set)", "evaluate"),
    ("accuracy_drop", "drop versus the final exit", "evaluate"),
    ("throughput_fps", "throughput (frames/s, simulated)", "simulate"),
    ("gain_equal_resources", "gain over the single-exit baseline at equal resources", "simulate"),
    ("gain_iso_resource", "gain at equal resource fraction (DSE iso-resource sweep)", "dse"),
    ("fraction_of_bound", "fraction of the physical bound", "simulate"),
    ("resource_fraction", "resource fraction of the board", "build"),
]


def _read(path: Path) -> Any:
    """A JSON file's data; None when absent or unreadable (logged)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        log.warning("report: cannot read %s: %s", path, err)
        return None


def load_reports(run_dir: Path) -> dict[str, Any]:
    """Every report the page draws on, by short name (None: not there)."""
    lay = RunLayout(run_dir)
    return {
        "eval": _read(lay.eval_report),
        "policy": _read(lay.policy),
        "build": _read(lay.build_report),
        "synth": _read(lay.build_dir / "synth.json"),
        "sim": _read(lay.sim_report),
        "rtl": _read(lay.run_dir / "rtl" / "report.json"),
        "dse": _read(lay.run_dir / "dse" / "report.json"),
    }


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _board_budget(build: dict[str, Any]) -> dict[str, float]:
    """The board's resources: exitflow.hw.boards when it knows the board, else from utilisation."""
    try:
        from exitflow.hw.boards import board_spec

        return {k: float(v) for k, v in board_spec(build["board"]).resources.items()}
    except (KeyError, ValueError, ImportError):
        gated = build.get("gated") or {}
        util, total = gated.get("utilisation") or {}, gated.get("total") or {}
        return {k: total[k] / u for k, u in util.items() if u and _num(total.get(k))}


def _resources(build: dict[str, Any] | None, synth: dict[str, Any] | None) -> dict[str, Any]:
    """Per-part resources of the gated design against the board, and which counts they are."""
    if not build or "gated" not in build:
        return {"missing": "build"}
    budget = _board_budget(build)
    gated = build["gated"]
    parts = {r["name"]: r for r in gated["partitions"] + gated.get("cond_buffers", [])}
    keys = [k for k in ("LUT", "FF", "BRAM_18K", "DSP", "URAM") if budget.get(k)]
    source, note = "FINN estimates", "FINN's analytical estimates (no synthesis)"
    synth_parts = (synth or {}).get("parts") or {}
    rows: dict[str, dict[str, float]] = {k: {} for k in keys}
    for name, part in parts.items():
        entry = synth_parts.get(name, {}).get("yosys")
        for k in keys:
            value = _num((entry or part).get(k))
            if value:
                rows[k][name] = value
    if synth_parts and all(n in synth_parts for n in parts):
        source = "yosys synth_xilinx"
        note = (
            f"yosys {(synth or {}).get('yosys', '')} synth_xilinx of every part (build/synth.json)"
        )
    elif synth_parts:
        source = "yosys + FINN estimates"
        missing = [n for n in parts if n not in synth_parts]
        note = f"yosys where synthesised; FINN's estimates for {', '.join(missing)}"
    keys = [k for k in keys if rows[k] or k == "LUT"]  # FINN estimates no FFs: leave them out
    top = ((synth or {}).get("tops") or {}).get("gated") or {}
    top_res = top.get("yosys", top) if isinstance(top, dict) else {}
    used = {k: sum(rows[k].values()) for k in keys}
    if _num(top_res.get("LUT")):  # the whole generated top synthesised: its totals, glue included
        used = {k: float(top_res.get(k) or 0.0) for k in keys}
        source, note = "yosys synth_xilinx", "yosys synth_xilinx of the whole generated top"
    fractions = {k: used[k] / budget[k] for k in keys}
    binding = max(fractions, key=lambda k: fractions[k]) if fractions else None
    base = (build.get("baseline") or {}).get("total") or {}
    return {
        "board": build.get("board"),
        "part": build.get("part"),
        "budget": {k: budget[k] for k in keys},
        "per_part": rows,
        "used": used,
        "fractions": fractions,
        "binding": binding,
        "fraction": fractions.get(binding) if binding else None,
        "baseline_used": {k: float(base[k]) for k in keys if _num(base.get(k)) is not None},
        "source": source,
        "note": note,
    }


def _tradeoff(
    ev: dict[str, Any] | None, sim: dict[str, Any] | None, dse: Any, policy: Any = None
) -> dict[str, Any]:
    """Accuracy against throughput: the DSE's Pareto front, else the calibrated trade-off curve."""
    front = dse.get("pareto_front") if isinstance(dse, dict) else None
    if isinstance(front, list) and front:
        # DSE accuracies are on the validation split: the baseline's is the final exit's there
        base_acc = _num((policy or {}).get("final_accuracy"))
        chosen = dse.get("chosen") or {}
        return {
            "kind": "pareto",
            "x": "throughput (frames/s, simulated on validation exits)",
            "curve": sorted(
                (_num(p.get("fps")), _num(p.get("accuracy")))
                for p in front
                if _num(p.get("fps")) and _num(p.get("accuracy")) is not None
            ),
            "baselines": [
                [_num(b.get("fps")), base_acc, _num(b.get("resource_fraction"))]
                for b in dse.get("baseline") or []
                if _num(b.get("fps")) and base_acc is not None
            ],
            "chosen": [_num(chosen.get("fps")), _num(chosen.get("accuracy"))],
            "iso_resource": [r for r in dse.get("iso_resource") or [] if isinstance(r, dict)],
            "source": "dse/report.json",
        }
    if not ev:
        return {"missing": "evaluate"}
    kind = ev.get("kind")
    points = ((ev.get("policies") or {}).get(kind) or {}).get("points") or []
    curve = [
        (1.0 / p["mac_fraction"], p["accuracy"])
        for p in points
        if _num(p.get("mac_fraction")) and _num(p.get("accuracy")) is not None
    ]
    out: dict[str, Any] = {
        "kind": "curve",
        "x": "throughput over the single-exit network (x)",
        "policy": kind,
        "curve": sorted(curve),
        "calibrated": [_num(ev.get("speedup")), _num(ev.get("accuracy"))],
        "oracle": [_num(ev.get("oracle_speedup")), _num(ev.get("oracle_accuracy"))],
        "baseline": [1.0, _num(ev.get("final_accuracy"))],
        "source": "eval/report.json",
    }
    if sim and _num(sim.get("gain_over_baseline")):
        out["simulated"] = [_num(sim["gain_over_baseline"]), _num(ev.get("accuracy"))]
    return out


def _headline(reports: dict[str, Any], res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    ev, sim = reports["eval"] or {}, reports["sim"] or {}
    short = bool(sim.get("short_run"))
    values: dict[str, tuple[Any, str, str]] = {
        "accuracy": (ev.get("accuracy"), "eval/report.json", ""),
        "accuracy_drop": (
            ev.get("accuracy_drop"),
            "eval/report.json",
            f"final exit alone: {ev['final_accuracy']:.4f}"
            if _num(ev.get("final_accuracy"))
            else "",
        ),
        "throughput_fps": (sim.get("throughput_fps"), "sim/report.json", ""),
        "gain_equal_resources": (
            sim.get("gain_equal_resources"),
            "sim/report.json",
            f"raw gain {sim['gain_over_baseline']:.3f}x, divided by the "
            f"{(sim.get('headline') or {}).get('normalised_by')} ratio"
            if _num(sim.get("gain_over_baseline"))
            else "",
        ),
        "gain_iso_resource": _iso_gain(reports["dse"]),
        "fraction_of_bound": (
            sim.get("fraction_of_bound"),
            "sim/report.json",
            f"bound {sim['bound']:.3f}x" if _num(sim.get("bound")) else "",
        ),
        "resource_fraction": (
            res.get("fraction"),
            "build/report.json" if res.get("source") == "FINN estimates" else "build/synth.json",
            f"{res.get('binding')} binds; {res.get('source')}" if res.get("binding") else "",
        ),
    }
    out = {}
    for key, label, step in HEADLINE:
        value, source, note = values[key]
        flagged = short and source == "sim/report.json" and key != "accuracy"
        out[key] = {
            "label": label,
            "value": _num(value),
            "source": source,
            "note": note + ("; not meaningful: simulation too short" if flagged else ""),
            "missing": None if _num(value) is not None else step,
        }
    if res.get("source"):
        out["resource_fraction"]["resources_from"] = res["source"]
    return out


def _iso_gain(dse: Any) -> tuple[Any, str, str]:
    """The DSE's gain at its budget (else its largest budget with a gain), and the budget."""
    rows = [r for r in (dse or {}).get("iso_resource") or [] if _num(r.get("gain"))]
    if not rows:
        return None, "dse/report.json", ""
    budget = _num(dse.get("budget"))
    row = next((r for r in rows if budget is not None and r.get("budget") == budget), rows[-1])
    base = (row.get("baseline") or {}).get("fps")
    return (
        row["gain"],
        "dse/report.json",
        (f"at {100 * row['budget']:.0f} % of the board; baseline {_num(base) or 0:.0f} frames/s"),
    )


def _exits(ev: dict[str, Any] | None, sim: dict[str, Any] | None) -> dict[str, Any]:
    groups: dict[str, list[float]] = {}
    if ev:
        groups["test set (software)"] = list((ev.get("calibrated") or {}).get("exit_fractions", []))
        groups["oracle"] = list((ev.get("oracle") or {}).get("exit_fractions", []))
    if sim and sim.get("exit_fractions"):
        groups["simulated hardware"] = list(sim["exit_fractions"])
    groups = {k: v for k, v in groups.items() if v}
    if not groups:
        return {"missing": "evaluate"}
    return {"groups": groups, "num_exits": max(len(v) for v in groups.values())}


def collect(run_dir: Path) -> dict[str, Any]:
    """Headline numbers and the data of every figure (see the module docstring)."""
    reports = load_reports(Path(run_dir))
    res = _resources(reports["build"], reports["synth"])
    sim = reports["sim"]
    return {
        "headline": _headline(reports, res),
        "figures": {
            "tradeoff": _tradeoff(reports["eval"], sim, reports["dse"], reports["policy"]),
            "exits": _exits(reports["eval"], sim),
            "resources": res,
            "buffers": {"rows": sim.get("buffers", [])} if sim else {"missing": "simulate"},
            "adversarial": _adversarial(sim),
            "rtl": reports["rtl"] if reports["rtl"] is not None else {"missing": "cosim"},
        },
        "short_run": bool(sim and sim.get("short_run")),
        "short_run_reasons": list((sim or {}).get("short_run_reasons", [])),
    }


def _adversarial(sim: dict[str, Any] | None) -> dict[str, Any]:
    """Figures under a load that defeats early exit: no frame exits, latency tails."""
    if not sim:
        return {"missing": "simulate"}
    check = sim.get("noexit_check") or {}
    out = {
        "noexit_fps": _num(sim.get("noexit_fps")),
        "finn_estimate_fps": _num(check.get("finn_estimate_fps")),
        "noexit_over_finn_estimate": _num(sim.get("noexit_fps_over_finn_estimate")),
        "noexit_ok": check.get("ok"),
        "noexit_short_run": check.get("short_run"),
        "latency_p50_us": _num(sim.get("latency_p50_us")),
        "latency_p99_us": _num(sim.get("latency_p99_us")),
        "latency_max_us": _num((sim.get("latency_us") or {}).get("max")),
        "arrival": sim.get("arrival"),
    }
    if isinstance(sim.get("streams"), dict):  # test set, no exit by policy, hard bursts
        out["streams"] = sim["streams"]
    return out


def design_built(run_dir: Path, by_dse: bool) -> dict[str, Any]:
    """Which design the run built: `by_dse` (flow.dse with a chosen design: dse/design.yaml) or
    as configured; with the search's figures of the chosen one (validation set)."""
    lay = RunLayout(run_dir)
    if not by_dse:
        return {"chosen_by": "config", "text": "the design as configured", "source": "config.yaml"}
    rep = _read(lay.dse_report) or {}
    c = rep.get("chosen") or {}
    build = _read(lay.build_report) or {}
    exits = build.get("exits")
    bits = [
        f"keeps exits {exits}" if exits is not None else None,
        f"thresholds {c['thresholds']}" if "thresholds" in c else None,
        f"{c['cond_buffer_frames']}-frame buffers" if "cond_buffer_frames" in c else None,
        f"{_num(c.get('fps')):,.0f} frames/s" if _num(c.get("fps")) else None,
        f"accuracy {_num(c.get('accuracy')):.4f}" if _num(c.get("accuracy")) else None,
        f"{_num(c.get('resource_fraction')):.1%} of the board"
        if _num(c.get("resource_fraction"))
        else None,
    ]
    rule = rep.get("chosen_rule") or "the search's rule"
    text = f"chosen by the design-space exploration ({rule})"
    detail = ", ".join(b for b in bits if b)
    if detail:
        text += f": {detail} (validation set, the search's figures)"
    return {"chosen_by": "dse", "text": text, "source": lay.rel(lay.dse_design), "chosen": c}
