"""Older names of the run object, kept so that scripts written against them still work.

`RunContext` is `exitflow.Run`; `StepUnavailable` is `exitflow.PrerequisiteError`.
"""

from __future__ import annotations

from exitflow.core.errors import PrerequisiteError as StepUnavailable
from exitflow.run import Run as RunContext
from exitflow.run import ToolPaths

__all__ = ["RunContext", "StepUnavailable", "ToolPaths"]
