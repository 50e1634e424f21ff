"""The `report` step: one summary of every artefact the run has, naming what is missing."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from exitflow.context import RunContext
from exitflow.core.files import write_json, write_text

log = logging.getLogger(__name__)

# (section title, report file relative to the run directory, step that writes it)
SECTIONS = [
    ("Training", "train/history.json", "train"),
    ("Exit policy (validation)", "calibrate/policy.json", "calibrate"),
    ("Evaluation (test set)", "eval/report.json", "evaluate"),
    ("Export", "export/manifest.json", "export"),
    ("Hardware build", "build/report.json", "build"),
    ("Simulation", "sim/report.json", "simulate"),
]
# markdown reports that the steps write themselves, linked from the summary
MARKDOWN = ["eval/report.md", "build/report.md", "sim/report.md"]


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


def summarise(run_dir: Path) -> tuple[str, dict[str, Any]]:
    """Markdown summary and a machine-readable index of the run's reports."""
    index: dict[str, Any] = {"run_dir": str(run_dir), "sections": {}}
    md = [f"# exitflow run `{run_dir.name}`", ""]
    for title, rel, step in SECTIONS:
        path = run_dir / rel
        md.append(f"## {title}")
        if not path.is_file():
            md += [f"not produced: run `exitflow {step}`", ""]
            index["sections"][step] = None
            continue
        data = json.loads(path.read_text())
        index["sections"][step] = rel
        md += [f"from `{rel}`", "", *_headline(data), ""]
    links = [rel for rel in MARKDOWN if (run_dir / rel).is_file()]
    if links:
        md += ["## Detailed reports", "", *[f"- [{rel}]({rel})" for rel in links], ""]
    return "\n".join(md), index


def step_report(ctx: RunContext) -> Path:
    """Write run_dir/report.md and run_dir/report.json."""
    text, index = summarise(ctx.run_dir)
    write_json(ctx.run_dir / "report.json", index)
    out = write_text(ctx.run_dir / "report.md", text)
    missing = [step for step, rel in index["sections"].items() if rel is None]
    if missing:
        log.warning("report: no output yet from %s", ", ".join(missing))
    log.info("wrote %s", out)
    return out
