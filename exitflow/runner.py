"""Running steps so that a run never goes stale and never loses work.

For each step, under the run's lock:

1. Its required inputs must exist, else PrerequisiteError names the step that writes them.
2. The steps that wrote its inputs must have succeeded and be up to date (their own inputs and
   config sections unchanged since), else PrerequisiteError / StaleError names what to rerun.
3. It is skipped when its record says "done" and its inputs and config sections are unchanged
   (unless forced). Outputs that exist with no record at all (runs made before records, or files
   made by hand) are adopted as they are.
4. Otherwise its old outputs are moved aside (.previous/<step>), the record says "running", the
   step writes its outputs in place, and then the record says "done" (written last) and the old
   outputs are deleted. If the step fails, or is interrupted, the partial outputs are removed and
   the old ones restored; a killed process is rolled back the same way by the next command.
   A step whose outputs are complete but judged bad (VerificationError, SimulationError,
   BudgetError) keeps them for inspection, recorded "failed": later steps refuse them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exitflow import __version__
from exitflow.core.errors import (
    BudgetError,
    ConfigError,
    PrerequisiteError,
    SimulationError,
    StaleError,
    VerificationError,
)
from exitflow.core.schema import to_dict
from exitflow.records import DONE, FAILED, RUNNING, StepRecord, config_digest, path_digest
from exitflow.results import result_from_record, result_to_record
from exitflow.run import Run, move_aside, remove, restore_previous
from exitflow.steps import FLOW, STEPS, Step, as_step, flow_steps

__all__ = ["FlowResult", "MissingInputError", "StepOutcome", "run_flow", "run_step", "step_state"]

log = logging.getLogger(__name__)

# the step produced complete outputs and a check judged them bad: they are kept for inspection
_JUDGED = (VerificationError, SimulationError, BudgetError)


class MissingInputError(PrerequisiteError, FileNotFoundError):
    """An input file of a step does not exist: the message names the step that writes it."""


@dataclass
class StepOutcome:
    """What happened to one step: whether it ran, how long, and its typed result."""

    name: str
    ran: bool
    seconds: float = 0.0
    result: Any = None


@dataclass
class FlowResult:
    """The outcomes of run_flow, in order; `results[name]` is a step's typed result."""

    run: Run
    outcomes: list[StepOutcome] = field(default_factory=list)

    @property
    def results(self) -> dict[str, Any]:
        return {o.name: o.result for o in self.outcomes}

    @property
    def ran(self) -> list[str]:
        return [o.name for o in self.outcomes if o.ran]


def _producer(step: Step, name: str) -> Step | None:
    """The built-in step that writes layout path `name` (None: nobody, or `step` itself)."""
    lay = _rel_layout()
    target = getattr(lay, name)
    for other in STEPS.values():
        for w in other.writes:
            out = getattr(lay, w)
            if other.name != step.name and (target == out or out in target.parents):
                return other
    return None


def _rel_layout() -> Any:
    from exitflow.layout import RunLayout

    return RunLayout(Path("/run"))


def _drop(tree: Any, dotted: str) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        if not isinstance(tree, dict):
            return
        tree = tree.get(part)
    if isinstance(tree, dict):
        tree.pop(last, None)


def input_digests(step: Step, run: Run) -> tuple[dict[str, str | None], dict[str, str]]:
    """Digests of the step's input files and of its config sections (ignored keys left out)."""
    lay = run.layout
    files = {lay.rel(getattr(lay, n)): path_digest(getattr(lay, n)) for n in step.reads}
    files |= {lay.rel(getattr(lay, n)): path_digest(getattr(lay, n)) for n in step.optional}
    whole = {"root": to_dict(run.cfg, digest=True)}
    for key in step.ignore:
        _drop(whole["root"], key)
    config = {}
    for key in step.config:
        value: Any = whole["root"]
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        config[key] = config_digest(value)
    return files, config


@contextlib.contextmanager
def _step_config(st: Step, run: Run) -> Iterator[None]:
    """run.cfg is the config `st` works on while inside: the chosen design's with flow.dse
    (exitflow.step_explore.design_config), except for steps with Step.configured_design."""
    design = None
    if not st.configured_design:
        from exitflow.step_explore import design_config

        design = design_config(run.cfg, run.layout)
    if design is None:
        yield
        return
    base, run.cfg = run.cfg, design
    try:
        yield
    finally:
        run.cfg = base


def step_state(step: str | Step, run: Run) -> tuple[str, str]:
    """(state, why) of a step: "fresh", "stale", "missing", "failed", "incomplete", "unrecorded"."""
    st = as_step(step)
    with _step_config(st, run):
        return _step_state(st, run)


def _step_state(st: Step, run: Run) -> tuple[str, str]:
    rec = run.record(st.name)
    lay = run.layout
    if rec is None:
        exists = bool(st.writes) and all(getattr(lay, w).exists() for w in st.writes)
        return ("unrecorded", "made without a record") if exists else ("missing", "never ran")
    if rec.status != DONE:
        return (FAILED if rec.status == FAILED else "incomplete"), rec.error or rec.status
    changed = rec.changes(*input_digests(st, run))
    if changed:
        return "stale", ", ".join(changed) + " changed since it ran"
    if not all((lay.run_dir / o).exists() for o in rec.outputs):
        return "incomplete", "some of its outputs were deleted"
    return "fresh", "up to date"


def _stale_origin(prod: Step, run: Run) -> Step:
    """The earliest stale step at or upstream of `prod`: a rerun from there refreshes them all
    (after a policy change, build is stale and so is export, which build reads)."""
    order = {name: i for i, name in enumerate(FLOW)}
    origin = prod
    for name in (*prod.reads, *prod.optional):
        up = _producer(prod, name)
        if up is None or step_state(up, run)[0] != "stale":
            continue
        cand = _stale_origin(up, run)
        if order.get(cand.name, len(order)) < order.get(origin.name, len(order)):
            origin = cand
    return origin


def _check_inputs(step: Step, run: Run, checked: set[str], top: bool = True) -> None:
    """Raise if an input is missing, or its producer (or theirs, transitively, as far as records
    go) failed, did not finish or is stale."""
    lay = run.layout
    for name in step.reads if top else ():
        if not getattr(lay, name).exists():
            prod = _producer(step, name)
            first = f"run `exitflow {prod.name}` first" if prod else "create it first"
            raise MissingInputError(
                f"{step.name}: {lay.rel(getattr(lay, name))} is missing: {first}"
            )
    for name in (*step.reads, *step.optional):
        prod = _producer(step, name)
        if prod is None or prod.name in checked or not getattr(lay, name).exists():
            continue
        checked.add(prod.name)
        state, why = step_state(prod, run)
        if state == "stale":
            origin = _stale_origin(prod, run)
            also = f" (and {origin.name}'s, upstream of it)" if origin is not prod else ""
            raise StaleError(
                f"{step.name}: the outputs of {prod.name}{also} are stale ({why}): rerun them "
                f"with `exitflow run --from {origin.name} --to {step.name}`"
            )
        if state == FAILED:
            raise PrerequisiteError(
                f"{step.name}: {prod.name} failed when it last ran ({why}); fix that and rerun "
                f"`exitflow {prod.name}`"
            )
        if state == "incomplete":
            raise PrerequisiteError(
                f"{step.name}: {prod.name} did not finish ({why}): rerun `exitflow {prod.name}`"
            )
        if state == "fresh":
            _check_inputs(prod, run, checked, top=False)


def run_step(step: str | Step | Callable[[Run], Any], run: Run) -> StepOutcome:
    """Run one step on `run` unless it is up to date (see the module doc for the rules).

    With flow.dse and a design chosen (dse/overlay.yaml), every step but train, explore and dse
    runs on the chosen design's config (exitflow.step_explore.design_config): its records and
    staleness follow that config, and a new choice reruns what it changes."""
    st = as_step(step)
    base = run.cfg
    with _step_config(st, run):
        return _run_step(st, run, base)


def _run_step(st: Step, run: Run, base: Any) -> StepOutcome:
    with run.locked():
        _check_inputs(st, run, set())
        inputs, config = input_digests(st, run)
        rec = run.record(st.name)
        lay = run.layout
        have = bool(st.writes) and all(getattr(lay, w).exists() for w in st.writes)
        if not run.force and not st.always and have:
            if rec is None:
                log.info("%s: outputs exist without a record: adopted as they are", st.name)
                _record(run, st, DONE, inputs, config, None, time.time())
                return StepOutcome(st.name, False)
            if rec.status == DONE and not rec.changes(inputs, config):
                log.info("%s: up to date, skipped (--force redoes it)", st.name)
                return StepOutcome(st.name, False, result=result_from_record(lay, rec.result))
        if rec is not None and rec.status == DONE and not run.force:
            log.info(
                "%s: reruns, %s changed since it ran",
                st.name,
                ", ".join(rec.changes(inputs, config)) or "an output",
            )
        return _run_journaled(st, run, inputs, config, rec, base)


def _outputs(step: Step, run: Run) -> list[str]:
    lay = run.layout
    return [lay.rel(getattr(lay, w)) for w in step.writes]


def _record(run: Run, step: Step, status: str, inputs, config, result, started, error=None) -> None:
    StepRecord(
        step=step.name,
        status=status,
        inputs=inputs,
        config=config,
        outputs=_outputs(step, run),
        result=result_to_record(run.layout, result),
        error=error,
        started=started,
        finished=time.time() if status != RUNNING else None,
        command=run.command,
        version=__version__,
        config_snapshot=to_dict(run.cfg),
    ).write(run.layout.record(step.name))


def _run_journaled(
    step: Step, run: Run, inputs, config, old: StepRecord | None, base: Any
) -> StepOutcome:
    lay, outputs, started = run.layout, _outputs(step, run), time.time()
    in_place = step.in_place is not None and step.in_place(run)
    complete_old = old is None or old.status in (DONE, FAILED)
    aside = not in_place and complete_old and any((lay.run_dir / o).exists() for o in outputs)
    if aside:
        move_aside(lay, step.name, outputs)
    elif not in_place and (run.force or not step.resumes):
        for rel in outputs:  # partial outputs of an unfinished run: not resumable, start clean
            remove(lay.run_dir / rel)
    _record(run, step, RUNNING, inputs, config, None, started)
    log.info("step %s: %s", step.name, step.doc)
    t0 = time.monotonic()
    try:
        result = step.function()(run)
    except _JUDGED as exc:
        _record(run, step, FAILED, inputs, config, None, started, error=str(exc))
        remove(lay.previous(step.name))
        raise
    except BaseException as exc:
        if aside:
            restore_previous(lay, step.name, outputs)
            log.warning("%s failed: its previous outputs are kept", step.name)
        else:
            _record(run, step, "incomplete", inputs, config, None, started, error=_short(exc))
        raise
    _record(run, step, DONE, inputs, config, result, started)
    remove(lay.previous(step.name))
    _save_config(base, run)
    seconds = time.monotonic() - t0
    log.info("step %s done in %.1f s", step.name, seconds)
    return StepOutcome(step.name, True, seconds, result)


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _save_config(cfg: Any, run: Run) -> None:
    """config.yaml: the config the last step that succeeded ran with, as given (with flow.dse,
    the chosen design's is dse/design.yaml; each record keeps the one its step used)."""
    from exitflow.config import save_config

    save_config(cfg, run.layout.config)


def run_flow(
    cfg: Any,
    run_dir: str | Path | None = None,
    *,
    steps: Sequence[str | Step | Callable[[Run], Any]] | None = None,
    start: str | None = None,
    stop: str | None = None,
    force: bool = False,
    data_root: str | Path = ".data",
    tools: Any = None,
    progress: Any = None,
    command: str = "python",
) -> FlowResult:
    """Run the flow's steps in order on one run directory and return their outcomes.

    Args:
        cfg: a ProjectConfig, or a Run (then run_dir, data_root, tools, progress are its own).
        run_dir: the run directory (default: the config's output_dir or runs/<name>).
        steps: names, Steps or plain `f(run)` callables (default: flow_steps(cfg), FLOW with
            `explore` after train when flow.dse is on).
        start, stop: the first and last step to run, by name (default: all of `steps`).
        force: redo every selected step even if it is up to date.
    A step that fails raises its ExitflowError; the steps before it keep their outputs.
    """
    if isinstance(cfg, Run):
        run = cfg
        if force and not run.force:  # for this call only: the caller's Run keeps its setting
            run.force = True
            try:
                return run_flow(run, steps=steps, start=start, stop=stop)
            finally:
                run.force = False
    else:
        from exitflow.run import ToolPaths

        path = Path(run_dir) if run_dir is not None else cfg.run_dir(Path.cwd())
        kwargs = {"progress": progress} if progress is not None else {}
        run = Run(
            cfg, path, Path(data_root), tools or ToolPaths(), force=force, command=command, **kwargs
        )
    chosen = [as_step(s) for s in (steps if steps is not None else flow_steps(run.cfg))]
    names = [s.name for s in chosen]
    for bound in (start, stop):
        if bound is not None and bound not in names:
            raise ConfigError(f"no step {bound!r} in this flow: the steps are {', '.join(names)}")
    first = names.index(start) if start else 0
    last = names.index(stop) if stop else len(names) - 1
    result = FlowResult(run)
    with run.locked():
        for st in chosen[first : last + 1]:
            result.outcomes.append(run_step(st, run))
    return result
