"""The flow's steps in order. Each package's steps live in its own module (exitflow.step_*)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from exitflow.context import RunContext, StepUnavailable

log = logging.getLogger(__name__)

# step name -> (module, function, one-line description)
STEPS: dict[str, tuple[str, str, str]] = {
    "train": ("exitflow.step_quant", "step_train", "quantisation-aware training of all exits"),
    "calibrate": ("exitflow.step_eval", "step_calibrate", "integer exit thresholds on validation"),
    "evaluate": ("exitflow.step_eval", "step_evaluate", "per-exit/policy evaluation report"),
    "export": ("exitflow.step_quant", "step_export", "QONNX per stage/head + reference npz"),
    "build": ("exitflow.step_hw", "step_build", "FINN build of stages, heads, decision units"),
    "simulate": ("exitflow.step_sim", "step_simulate", "cycle-level simulation and exit check"),
    "report": ("exitflow.step_report", "step_report", "one summary of all artefacts"),
}
FLOW: list[str] = list(STEPS)


def resolve(name: str) -> Callable[[RunContext], object]:
    """The function behind step `name`; raises StepUnavailable if it is not built yet."""
    module_name, func_name, _ = STEPS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise StepUnavailable(f"step '{name}' is not built yet") from None
        raise
    func = getattr(module, func_name, None)
    if func is None:
        raise StepUnavailable(f"step '{name}' is not built yet")
    return func


def run_step(name: str, ctx: RunContext) -> object:
    """Run one named step."""
    log.info("step %s: %s", name, STEPS[name][2])
    return resolve(name)(ctx)
