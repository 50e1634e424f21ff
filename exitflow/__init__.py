"""exitflow: FPGA/accelerator co-design of early-exit CNNs (brevitas -> FINN -> simulator).

The flow as a library::

    import exitflow

    cfg = exitflow.load_config("design.yaml")
    flow = exitflow.run_flow(cfg, "runs/mine", stop="evaluate")
    print(flow.results["evaluate"].speedup)

Importing exitflow is light (no torch or FINN): the names below are imported when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Run": "exitflow.run",
    "ToolPaths": "exitflow.run",
    "RunLayout": "exitflow.layout",
    "Step": "exitflow.steps",
    "STEPS": "exitflow.steps",
    "FLOW": "exitflow.steps",
    "run_flow": "exitflow.runner",
    "run_step": "exitflow.runner",
    "step_state": "exitflow.runner",
    "FlowResult": "exitflow.runner",
    "StepOutcome": "exitflow.runner",
    "ProjectConfig": "exitflow.config",
    "load_config": "exitflow.config",
    "save_config": "exitflow.config",
    "config_from_dict": "exitflow.config",
    "TrainResult": "exitflow.results",
    "CalibrateResult": "exitflow.results",
    "EvaluateResult": "exitflow.results",
    "ExportResult": "exitflow.results",
    "BuildResult": "exitflow.results",
    "SimulateResult": "exitflow.results",
    "ReportResult": "exitflow.results",
    "ExitflowError": "exitflow.core.errors",
    "ConfigError": "exitflow.core.errors",
    "PrerequisiteError": "exitflow.core.errors",
    "StaleError": "exitflow.core.errors",
    "ToolMissingError": "exitflow.core.errors",
    "DataError": "exitflow.core.errors",
    "VerificationError": "exitflow.core.errors",
    "SimulationError": "exitflow.core.errors",
    "BudgetError": "exitflow.core.errors",
    "RunLockedError": "exitflow.core.errors",
    "EXIT_CODES": "exitflow.core.errors",
}

__all__ = [
    "EXIT_CODES",
    "FLOW",
    "STEPS",
    "BudgetError",
    "BuildResult",
    "CalibrateResult",
    "ConfigError",
    "DataError",
    "EvaluateResult",
    "ExitflowError",
    "ExportResult",
    "FlowResult",
    "PrerequisiteError",
    "ProjectConfig",
    "ReportResult",
    "Run",
    "RunLayout",
    "RunLockedError",
    "SimulateResult",
    "SimulationError",
    "StaleError",
    "Step",
    "StepOutcome",
    "ToolMissingError",
    "ToolPaths",
    "TrainResult",
    "VerificationError",
    "__version__",
    "config_from_dict",
    "load_config",
    "run_flow",
    "run_step",
    "save_config",
    "step_state",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from exitflow.config import ProjectConfig, config_from_dict, load_config, save_config
    from exitflow.core.errors import (
        EXIT_CODES,
        BudgetError,
        ConfigError,
        DataError,
        ExitflowError,
        PrerequisiteError,
        RunLockedError,
        SimulationError,
        StaleError,
        ToolMissingError,
        VerificationError,
    )
    from exitflow.layout import RunLayout
    from exitflow.results import (
        BuildResult,
        CalibrateResult,
        EvaluateResult,
        ExportResult,
        ReportResult,
        SimulateResult,
        TrainResult,
    )
    from exitflow.run import Run, ToolPaths
    from exitflow.runner import FlowResult, StepOutcome, run_flow, run_step, step_state
    from exitflow.steps import FLOW, STEPS, Step


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'exitflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
