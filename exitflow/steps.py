"""The flow's steps: what each reads, writes and depends on, in order.

A step is a callable `step(run) -> result`. The built-in ones are `Step` declarations whose code
(exitflow.step_*) is imported only when they run, so `import exitflow` and `exitflow --help` stay
light. Calling a Step runs it through exitflow.runner: prerequisites and staleness are checked,
it is skipped when up to date, its outputs replace the old ones only when it succeeds, and its
record is written last.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exitflow.layout import RunLayout

__all__ = ["FLOW", "STEPS", "Step", "as_step", "flow_steps", "run_step"]


@dataclass(frozen=True)
class Step:
    """One step of the flow.

    Attributes:
        name: the step's name (also its CLI command).
        impl: the function doing the work, `f(run) -> result`, or "module:function" imported
            when the step runs.
        doc: one line saying what the step does.
        reads: RunLayout names of inputs that must exist (missing: PrerequisiteError naming the
            step that writes them).
        optional: RunLayout names of inputs used when present.
        writes: RunLayout names of the files and directories the step replaces as a whole.
        config: dotted config keys the step depends on ("policy", "hw.verify_samples").
        ignore: dotted keys under `config` that do not change the outputs (threads, workers).
        options: CLI options that apply to the step ("data_root", "vivado").
        always: run even when up to date (cheap steps such as the summary report).
        resumes: the partial outputs of an unfinished (interrupted) run are kept for the step to
            resume from (training resumes from train/last.pt); --force starts afresh.
        in_place: given the run, True when the step resumes over its existing outputs (a build
            restarted from hw.start_step) instead of replacing them.
        configured_design: works on the config as written even with flow.dse (the search's own
            inputs: train, explore, dse); every other step sees the design the search chose
            (exitflow.step_explore.design_config).
    """

    name: str
    impl: str | Callable[[Any], Any]
    doc: str = ""
    reads: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    config: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    always: bool = False
    resumes: bool = False
    in_place: Callable[[Any], bool] | None = None
    configured_design: bool = False

    def function(self) -> Callable[[Any], Any]:
        """The function doing the work (imports its module)."""
        if callable(self.impl):
            return self.impl
        module, _, name = self.impl.partition(":")
        return getattr(importlib.import_module(module), name)

    def __call__(self, run: Any) -> Any:
        """Run the step on `run` (see exitflow.runner.run_step); returns its typed result."""
        from exitflow.runner import run_step

        return run_step(self, run).result

    def describe(self) -> str:
        """What the step reads, writes and depends on, for --help and docs."""
        lay = RunLayout(Path())  # relative: paths print as run-relative names
        lines = [self.doc + "."]
        if self.reads or self.optional:
            names = [_show(lay, n) for n in self.reads]
            names += [_show(lay, n) + " (if present)" for n in self.optional]
            lines.append("Reads " + ", ".join(names) + ".")
        if self.writes:
            lines.append("Writes " + ", ".join(_show(lay, n) for n in self.writes) + ".")
        if self.config:
            keys = ", ".join(self.config)
            lines.append(f"Reruns when its inputs or these config sections change: {keys}.")
        elif self.always:
            lines.append("Always reruns (it is cheap).")
        return " ".join(lines)


def _show(lay: RunLayout, name: str) -> str:
    path = getattr(lay, name)
    return path.as_posix() + ("/" if name.endswith("_dir") else "")


def as_step(item: str | Step | Callable[[Any], Any]) -> Step:
    """A Step from a built-in name, a Step, or a plain `f(run)` (always run, no declared files)."""
    if isinstance(item, Step):
        return item
    if isinstance(item, str):
        if item not in STEPS:
            from exitflow.core.errors import ConfigError

            raise ConfigError(f"no step named {item!r}: the steps are {', '.join(STEPS)}")
        return STEPS[item]
    if callable(item):
        name = getattr(item, "__name__", type(item).__name__)
        return Step(name, item, doc=(item.__doc__ or name).strip().splitlines()[0], always=True)
    raise TypeError(f"a step is a name, a Step or a callable, not {item!r}")


def run_step(step: str | Step | Callable[[Any], Any], run: Any) -> Any:
    """exitflow.runner.run_step, under the name older scripts import from here."""
    from exitflow.runner import run_step as _run_step

    return _run_step(step, run)


def _build_in_place(run: Any) -> bool:
    return run.cfg.hw.start_step is not None


_STEP_LIST = [
    Step(
        "train",
        "exitflow.step_quant:train",
        "quantisation-aware training of every exit, then the integer outputs of each",
        writes=("train_dir", "outputs_val", "outputs_test"),
        config=("dataset", "model", "train"),
        ignore=("train.threads", "train.device"),
        options=("data_root",),
        resumes=True,
        configured_design=True,
    ),
    Step(
        "explore",
        "exitflow.step_explore:explore",
        "with flow.dse: the configured design calibrated, exported, built up to specialisation "
        "and searched in cache/explore/; the later steps make the design it chose",
        reads=("best_pt", "outputs_val", "outputs_test"),
        writes=("dse_dir",),
        config=("name", "dataset", "model", "policy", "hw", "dse", "flow"),
        ignore=(
            "dse.workers",
            "dse.ray_address",
            "hw.workers",
            "hw.start_step",
            "hw.stop_step",
        ),
        options=("data_root",),
        configured_design=True,
    ),
    Step(
        "calibrate",
        "exitflow.step_eval:calibrate_step",
        "integer exit thresholds fitted on the validation outputs",
        reads=("outputs_val",),
        writes=("calibrate_dir",),
        config=("policy",),
    ),
    Step(
        "evaluate",
        "exitflow.step_eval:evaluate_step",
        "the calibrated policy and every other policy kind on the test outputs",
        reads=("outputs_test", "policy"),
        optional=("outputs_val",),
        writes=("eval_report", "eval_report_md", "tradeoff_png", "exits_png"),
        config=("policy",),
    ),
    Step(
        "export",
        "exitflow.step_quant:export",
        "QONNX partitions per stage and head, full.onnx and reference.npz, checked bit-exact",
        reads=("best_pt", "policy"),
        optional=("outputs_test",),
        writes=("export_dir",),
        config=("name", "dataset", "hw.verify_samples"),
        options=("data_root",),
    ),
    Step(
        "build",
        "exitflow.step_hw:build",
        "FINN build of every stage, head and exit-decision unit, checked against quant/",
        reads=("export_dir", "policy"),
        optional=("outputs_val",),
        writes=("build_dir",),
        config=("hw",),
        ignore=("hw.workers", "hw.start_step", "hw.stop_step"),
        options=("vivado",),
        in_place=_build_in_place,
    ),
    Step(
        "simulate",
        "exitflow.step_sim:simulate",
        "cycle-level simulation of the built design on the exported test set",
        reads=("hwdesc", "reference"),
        optional=("policy",),
        writes=("sim_dir",),
        config=("sim",),
    ),
    Step(
        "cosim",
        "exitflow.step_rtl:cosim_step",
        "the generated RTL top in Verilator on real test frames, checked against quant/ and "
        "compared with the cycle simulator",
        reads=("hwdesc", "checkpoints_dir", "reference", "sim_report"),
        writes=("rtl_dir",),
        config=("sim", "rtl"),
        ignore=("rtl.jobs", "rtl.workers"),
        options=("data_root",),
    ),
    Step(
        "dse",
        "exitflow.step_dse:dse",
        "design-space exploration: exits, thresholds, folding and buffers for the board's budget",
        reads=("manifest", "policy", "outputs_val", "build_report"),
        writes=("dse_dir",),
        config=("dse", "hw"),
        ignore=("dse.workers", "dse.ray_address", "hw.workers", "hw.start_step", "hw.stop_step"),
        configured_design=True,
    ),
    Step(
        "report",
        "exitflow.step_report:summary",
        "one summary of every artefact of the run, naming what is missing or failed",
        writes=("summary_md", "summary_json", "summary_html"),
        always=True,
    ),
]

_STEP_LIST.append(
    Step(
        "bitstream",
        "exitflow.step_bitstream:bitstream",
        "the Vivado project of the generated top for hw.board, its bitstream where Vivado is "
        "(else exit 4 after the rest), and the deploy package",
        reads=("hwdesc",),
        optional=("sim_report", "policy"),
        writes=("bitstream_dir",),
        config=("hw",),
        ignore=("hw.workers", "hw.start_step", "hw.stop_step"),
        options=("vivado",),
    )
)

STEPS: dict[str, Step] = {s.name: s for s in _STEP_LIST}
# `exitflow run` stops before the bitstream: it needs an all-RTL design (hw.mvau_style: dsp)
# and Vivado; `exitflow bitstream` runs it on its own
# nor dse (the search of a built run, `exitflow dse`, docs/dse.md); with flow.dse it runs the
# search first as `explore` (flow_steps) and builds the chosen design
FLOW: list[str] = [s for s in STEPS if s not in ("bitstream", "dse", "explore")]

# `synth` is not in FLOW either: minutes of yosys on a large design, and an all-RTL build only
STEPS["synth"] = Step(
    "synth",
    "exitflow.step_synth:synth",
    "yosys synthesis of every partition, the whole gated top and the single-exit baseline top, "
    "beside FINN's estimates (build/synth.json; every synthesis cached under build/synth/)",
    reads=("hwdesc", "checkpoints_dir"),
    always=True,
)


def flow_steps(cfg: Any) -> list[str]:
    """The steps `exitflow run` runs for `cfg`: FLOW, with `explore` after train when
    flow.dse asks for the design-space exploration (the later steps then make its choice)."""
    if not getattr(getattr(cfg, "flow", None), "dse", False):
        return list(FLOW)
    return [FLOW[0], "explore", *FLOW[1:]]
