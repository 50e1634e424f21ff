"""What every flow step receives: the config plus everything resolved once at the edge (the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from exitflow.config import ProjectConfig
from exitflow.core.progress import NullProgress, Progress


@dataclass(frozen=True)
class ToolPaths:
    """External tools found on PATH or named by the user; None where absent."""

    vivado: Path | None = None
    vitis_hls: Path | None = None
    verilator: Path | None = None
    iverilog: Path | None = None


@dataclass
class RunContext:
    """A step's inputs: config, run directory, data root, tools, progress reporting."""

    cfg: ProjectConfig
    run_dir: Path
    data_root: Path
    tools: ToolPaths = field(default_factory=ToolPaths)
    progress: Progress = field(default_factory=NullProgress)
    force: bool = False


class StepUnavailable(RuntimeError):
    """A flow step that is not built yet, or whose tool is missing: says so plainly."""
