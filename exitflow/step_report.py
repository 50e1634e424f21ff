"""The `report` step: one summary of every artefact the run has, naming what is missing, stale
or failed."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from exitflow.core.files import write_json, write_text
from exitflow.layout import RunLayout
from exitflow.results import ReportResult
from exitflow.run import Run
from exitflow.steps import STEPS

__all__ = ["step_report", "summarise", "summary"]

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
    return "\n".join(md), index


def summary(run: Run) -> ReportResult:
    """Write the run's report.md and report.json."""
    lay = run.layout
    text, index = summarise(run.run_dir, run)
    write_json(lay.summary_json, index)
    write_text(lay.summary_md, text)
    missing = [step for step, rel in index["sections"].items() if rel is None]
    if missing:
        log.warning("report: no output yet from %s", ", ".join(missing))
    for line in index["states"].values():
        log.warning("report: %s", line.replace("**", ""))
    log.info("wrote %s", lay.summary_md)
    return ReportResult(lay.summary_md, missing)


step_report = STEPS["report"]
