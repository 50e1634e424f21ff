"""The `report` step: one summary of every artefact the run has, naming what is missing, stale
or failed."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exitflow.core.files import write_json, write_text
from exitflow.layout import RunLayout
from exitflow.report_data import collect, design_built
from exitflow.report_html import render
from exitflow.results import ReportResult
from exitflow.run import Run
from exitflow.steps import STEPS

__all__ = ["RUNGS", "rungs", "step_report", "summarise", "summary"]

log = logging.getLogger(__name__)

# (section title, RunLayout name of its report file, step that writes it)
SECTIONS = [
    ("Training", "history", "train"),
    ("Exit policy (validation)", "policy", "calibrate"),
    ("Evaluation (test set)", "eval_report", "evaluate"),
    ("Export", "manifest", "export"),
    ("Hardware build", "build_report", "build"),
    ("Simulation", "sim_report", "simulate"),
    ("RTL co-simulation", "rtl_report", "cosim"),
]
# markdown reports that the steps write themselves, linked from the summary
MARKDOWN = ["eval_report_md", "build_report_md", "sim_report_md", "rtl_report_md"]


# The verification ladder, rung by rung: (rung, what it checks, run-relative file of its
# evidence, step that writes it, judge). A judge takes the file's data and returns
# (status, detail): status is passed, failed or skipped; a missing file is "not run".
Judge = Callable[[dict[str, Any]], tuple[str, str]]


def _count(d: dict[str, Any], keys: tuple[str, ...]) -> int:
    return sum(int(d.get(k) or 0) for k in keys)


def _parity(d: dict[str, Any]) -> tuple[str, str]:
    bad = {k: v for k, v in (d.get("mismatches") or {}).items() if v}
    what = f"{d.get('samples')} samples, {len(d.get('mismatches') or {})} graphs"
    if bad:
        return "failed", f"{what}; mismatching samples: {bad}"
    return "passed", f"{what}; 0 mismatching samples"


def _finn_steps(d: dict[str, Any]) -> tuple[str, str]:
    ver = d.get("verification") or {}
    checks = [c for steps in ver.values() for c in steps.values() if isinstance(c, dict)]
    if not checks:
        return "skipped", "no per-step checks in build/report.json (hw.verify_step_samples: 0?)"
    bad = sum(int(c.get("mismatches") or 0) for c in checks)
    what = f"{len(ver)} partitions, {len(checks)} partition-steps checked"
    return ("failed" if bad else "passed"), f"{what}; {bad} mismatching samples"


def _composed(d: dict[str, Any]) -> tuple[str, str]:
    par = d.get("parity")
    if not par:
        return "skipped", "no composed-design parity in build/report.json (hw.verify_samples: 0?)"
    bad = _count(par, ("exit_mismatches", "class_mismatches", "logit_mismatches"))
    return ("failed" if bad else "passed"), (
        f"{par.get('samples')} images: exit {par.get('exit_mismatches')}, class "
        f"{par.get('class_mismatches')}, logit {par.get('logit_mismatches')} mismatches"
    )


def _simulator(d: dict[str, Any]) -> tuple[str, str]:
    bad = int(d.get("exit_mismatches") or 0)
    return ("failed" if bad else "passed"), f"{d.get('frames')} frames, {bad} exit mismatches"


def _cosim(d: dict[str, Any]) -> tuple[str, str]:
    if d.get("skipped"):
        return "skipped", str(d.get("reason") or d["skipped"])
    bad = _count(d, ("exit_mismatches", "class_mismatches", "logit_mismatches"))
    ratio, gap = d.get("fps_ratio"), d.get("max_fps_gap")
    # timing fidelity is reported, and fails the rung only under a configured rtl.max_fps_gap
    over = isinstance(ratio, float) and gap is not None and abs(ratio - 1.0) > gap
    order = "in" if d.get("order_equal") else "out of"
    speed = (
        f"; throughput {ratio:.3f} x the simulator's"
        + (f" (beyond rtl.max_fps_gap {gap})" if over else "")
        + f", results {order} its order"
        if isinstance(ratio, float)
        else ""
    )
    return ("failed" if bad or over else "passed"), (
        f"{d.get('frames')} frames, {bad} exit/class/logit mismatches vs quant/{speed}"
    )


def _vivado(d: dict[str, Any]) -> tuple[str, str]:
    if d.get("stopped"):
        return "skipped", str(d["stopped"])
    return "passed", "FINN's IP generation ran (Vivado/Vitis HLS present)"


RUNGS: list[tuple[str, str, str, str, Judge]] = [
    ("brevitas -> QONNX", "every partition and full.onnx in QONNX execution equal brevitas's "
     "integers", "export/parity.json", "export", _parity),
    ("QONNX -> FINN python", "each partition after every FINN build step equals its QONNX "
     "graph on the boundary tensors", "build/report.json", "build", _finn_steps),
    ("composed design -> quant/", "the composed FINN design (partitions and decision units) "
     "gives quant/'s exit, class and logits", "build/report.json", "build", _composed),
    ("simulator -> reference", "the cycle-level simulator's exit per frame equals "
     "export/reference.npz", "sim/report.json", "simulate", _simulator),
    ("RTL co-simulation", "the generated RTL top in Verilator against quant/ and the "
     "simulator", "rtl/report.json", "cosim", _cosim),
    ("Vivado IP and bitstream", "FINN's HLS/IP generation and Vivado synthesis of the "
     "partitions", "build/report.json", "build", _vivado),
]  # fmt: skip


def rungs(run_dir: Path) -> list[dict[str, str]]:
    """Each rung of the ladder: what it checks and whether it passed, failed, was skipped (and
    why) or has not run (and which step runs it)."""
    out = []
    for name, checks, rel, step, judge in RUNGS:
        path = Path(run_dir) / rel
        if not path.is_file():
            status, detail = "not run", f"no {rel}: run `exitflow {step}`"
        else:
            try:
                status, detail = judge(json.loads(path.read_text()))
            except (ValueError, TypeError, AttributeError) as err:
                status, detail = "failed", f"cannot read {rel}: {err}"
        out.append(
            {"rung": name, "checks": checks, "status": status, "detail": detail, "source": rel}
        )
    return out


def _headline(data: Any, limit: int = 14) -> list[str]:
    """Scalar top-level figures of a report, as markdown bullet lines."""
    if not isinstance(data, dict):
        return []
    lines = []
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            continue
        if isinstance(value, float):
            value = f"{value:.4g}"
        lines.append(f"- {key}: {value}")
        if len(lines) >= limit:
            break
    return lines


def _state_line(run: Run | None, step: str) -> str | None:
    """A warning line when the step's outputs are stale, failed or unfinished (None if fine)."""
    if run is None:
        return None
    from exitflow.runner import step_state

    state, why = step_state(STEPS[step], run)
    if state in ("fresh", "unrecorded", "missing"):
        return None
    return f"**{state.upper()}:** {why} (rerun `exitflow {step}`)"


def summarise(run_dir: Path, run: Run | None = None) -> tuple[str, dict[str, Any]]:
    """Markdown summary and a machine-readable index of the run's reports."""
    lay = RunLayout(run_dir)
    index: dict[str, Any] = {"run_dir": str(run_dir), "sections": {}, "states": {}}
    md = [f"# exitflow run `{lay.run_dir.name}`", ""]
    for title, name, step in SECTIONS:
        path = getattr(lay, name)
        rel = lay.rel(path)
        md.append(f"## {title}")
        state = _state_line(run, step)
        if state:
            md += [state, ""]
            index["states"][step] = state
        if not path.is_file():
            md += [f"not produced: run `exitflow {step}`", ""]
            index["sections"][step] = None
            continue
        data = json.loads(path.read_text())
        index["sections"][step] = rel
        md += [f"from `{rel}`", "", *_headline(data), ""]
        if isinstance(data, dict) and data.get("over_budget"):
            md += [f"**Over budget:** utilisation {data['over_budget']} of {data.get('board')}", ""]
    links = [lay.rel(getattr(lay, n)) for n in MARKDOWN if getattr(lay, n).is_file()]
    if links:
        md += ["## Detailed reports", "", *[f"- [{rel}]({rel})" for rel in links], ""]
    index["links"] = links
    index.update(collect(run_dir))
    index["rungs"] = rungs(run_dir)
    by_dse = run is not None and _chosen_by_dse(run)
    index["design"] = design_built(run_dir, by_dse)
    index["subtitle"] = f"Built: {index['design']['text']} ({index['design']['source']})"
    design = [
        "## Design built",
        "",
        f"{index['design']['text']} (`{index['design']['source']}`)",
        "",
    ]
    md[2:2] = design + _headline_md(index) + _rungs_md(index["rungs"])
    return "\n".join(md), index


def _chosen_by_dse(run: Run) -> bool:
    """flow.dse with a design chosen: the later steps made dse/design.yaml's design."""
    return bool(getattr(getattr(run.cfg, "flow", None), "dse", False)) and (
        run.layout.dse_overlay.is_file()
    )


def _headline_md(index: dict[str, Any]) -> list[str]:
    from exitflow.report_html import fmt_headline

    lines = ["## Headline", "", "| figure | value | about it | from |", "|---|---:|---|---|"]
    for key, item in index["headline"].items():
        note = f"run `exitflow {item['missing']}`" if item["missing"] else item["note"]
        value = fmt_headline(key, item["value"])
        lines.append(f"| {item['label']} | {value} | {note} | {item['source']} |")
    return [*lines, ""]


def _rungs_md(table: list[dict[str, str]]) -> list[str]:
    lines = [
        "## Verification ladder",
        "",
        "| rung | status | result, or why not |",
        "|---|---|---|",
    ]
    lines += [f"| {r['rung']} | {r['status']} | {r['detail']} |" for r in table]
    return [*lines, ""]


def summary(run: Run) -> ReportResult:
    """Write the run's report.html (what a person reads first), report.md and report.json (the
    data behind both: headline, figures, rungs, sections)."""
    lay = run.layout
    text, index = summarise(run.run_dir, run)
    sim = index["figures"]["buffers"].get("rows") is not None
    sim_report = json.loads(lay.sim_report.read_text()) if sim else None
    write_json(lay.summary_json, index)
    write_text(lay.summary_md, text)
    write_text(lay.summary_html, render(index, run.run_dir, sim_report))
    missing = [step for step, rel in index["sections"].items() if rel is None]
    if missing:
        log.warning("report: no output yet from %s", ", ".join(missing))
    for line in index["states"].values():
        log.warning("report: %s", line.replace("**", ""))
    log.info("wrote %s and %s", lay.summary_html, lay.summary_md)
    return ReportResult(lay.summary_md, missing)


step_report = STEPS["report"]
