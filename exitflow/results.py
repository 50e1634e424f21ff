"""Typed results of the flow's steps; each is kept in its step record and returned on a skip.

Every result's `path` is the step's main output (what older code got back from a step).
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exitflow.layout import RunLayout

__all__ = [
    "BuildResult",
    "CalibrateResult",
    "DseResult",
    "EvaluateResult",
    "ExportResult",
    "ReportResult",
    "RtlResult",
    "SimulateResult",
    "TrainResult",
    "result_from_record",
    "result_to_record",
]


@dataclass
class TrainResult:
    """train: `path` is train/best.pt."""

    path: Path
    best_epoch: int = 0
    best_val_acc: float = 0.0
    train_seconds: float = 0.0


@dataclass
class CalibrateResult:
    """calibrate: `path` is calibrate/policy.json."""

    path: Path
    kind: str = ""
    thresholds: list[Any] = field(default_factory=list)


@dataclass
class EvaluateResult:
    """evaluate: `path` is eval/report.json; accuracies on the test set, speed-up in MACs."""

    path: Path
    final_accuracy: float = 0.0
    accuracy: float = 0.0
    mac_fraction: float = 1.0
    speedup: float = 1.0


@dataclass
class ExportResult:
    """export: `path` is export/manifest.json; parity_samples images checked bit-exact."""

    path: Path
    parity_samples: int = 0


@dataclass
class BuildResult:
    """build: `path` is build/report.json; hwdesc None when the build stopped before estimates."""

    path: Path
    hwdesc: Path | None = None
    stopped: str | None = None
    over_budget: dict[str, float] = field(default_factory=dict)


@dataclass
class SimulateResult:
    """simulate: `path` is sim/report.json."""

    path: Path
    frames: int = 0
    exit_mismatches: int = 0


@dataclass
class RtlResult:
    """cosim: `path` is rtl/report.json; `skipped` the reason when the RTL rung did not run.

    fps_ratio is rtl_fps / sim_fps on the same frames and arrival; order_equal whether the RTL
    delivered results in the cycle simulator's order."""

    path: Path
    skipped: str | None = None
    frames: int = 0
    exit_mismatches: int = 0
    class_mismatches: int = 0
    logit_mismatches: int = 0
    rtl_fps: float = 0.0
    sim_fps: float = 0.0
    fps_ratio: float = 0.0
    order_equal: bool = False


@dataclass
class DseResult:
    """dse: `path` is dse/report.json; `design` the chosen design's config (None: none fits)."""

    path: Path
    design: Path | None = None
    candidates: int = 0
    simulated: int = 0
    minutes: float = 0.0


@dataclass
class ReportResult:
    """report: `path` is the run's report.md; `missing` the steps with no output yet."""

    path: Path
    missing: list[str] = field(default_factory=list)


def _is_path_field(f: dataclasses.Field) -> bool:
    return "Path" in str(f.type)


def result_to_record(layout: RunLayout, result: Any) -> dict[str, Any] | None:
    """A plain dict for the step record (paths relative to the run); None for other results."""
    if not dataclasses.is_dataclass(result) or isinstance(result, type):
        return None
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if isinstance(value, Path):
            value = layout.rel(value) if value.is_relative_to(layout.run_dir) else str(value)
        fields[f.name] = value
    cls = type(result)
    return {"type": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}


def result_from_record(layout: RunLayout, data: dict[str, Any] | None) -> Any:
    """Rebuild a result that result_to_record stored (None if there was none)."""
    if not data:
        return None
    module, _, name = data["type"].partition(":")
    cls = getattr(importlib.import_module(module), name)
    values = dict(data["fields"])
    for f in dataclasses.fields(cls):
        if _is_path_field(f) and values.get(f.name) is not None:
            values[f.name] = layout.run_dir / values[f.name]
    return cls(**values)
