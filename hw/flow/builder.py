"""The build flow: hw.steps in order for every partition, with checkpoints, timing and verification.

For each partition (gated design first, then the baseline) the flow runs the selected steps
(`hw.start_step` .. `hw.stop_step`), writes the model after each step atomically to
build/checkpoints/<partition>/<NN>_<step>.onnx, records the time of every step and checks its
output by python-mode execution against quant/'s integers (hw.verify): `hw.verify_step_samples`
images per step, `hw.verify_samples` at the last unspecialised step (the parity point). A step
whose Xilinx tool is missing ends the flow after the last step that could run, saying which tool
and what was produced. A verification mismatch stops the build at once.
"""

from __future__ import annotations

import filecmp
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from exitflow.core.errors import VerificationError
from exitflow.core.files import atomic_path
from exitflow.core.progress import NullProgress, Progress
from exitflow.hw.flow import baseline, decision, folding, steps, verify
from exitflow.hw.flow.design import Design, PartitionSpec
from exitflow.hw.flow.steps import STEP_NAMES, STEPS, PartitionCfg, Step

log = logging.getLogger(__name__)

# the last step whose checkpoint does not depend on the folding target: as far as reuse goes
REUSE_UPTO = "step_specialize_layers"


@dataclass
class FlowOptions:
    """Resolved inputs of a build."""

    build_dir: Path
    fpgapart: str
    clock_mhz: float
    target_fps: float
    impl: str
    verify_samples: int
    verify_step_samples: int
    overrides: dict[str, dict[str, dict[str, int]]]
    tools: dict[str, Path | None]
    workers: int = 1
    mvau_style: str = "dsp"
    inner_fifos: str = "none"
    start_step: str | None = None
    stop_step: str | None = None
    cond_buffer_frames: int | None = None
    # another run's build/ and export/ (flow.dse's cache/explore): checkpoints of a partition
    # exported to the same bytes are copied instead of rebuilt, up to step_specialize_layers
    reuse: tuple[Path, Path] | None = None


@dataclass
class FlowResult:
    """What ran: per step times, verification records, the last models, where it stopped."""

    models: dict[str, ModelWrapper]
    log: dict
    ran: list[str]
    stopped_for: str | None  # "step_x needs vivado" when the flow ended early for a tool


def select_steps(opts: FlowOptions) -> tuple[list[Step], str | None]:
    """The steps to run (start..stop), cut before the first one whose tool is missing."""
    for key in (opts.start_step, opts.stop_step):
        if key is not None and key not in STEP_NAMES:
            raise ValueError(f"hw.start_step/stop_step: unknown step {key!r}; steps: {STEP_NAMES}")
    a = STEP_NAMES.index(opts.start_step) if opts.start_step else 0
    b = STEP_NAMES.index(opts.stop_step) + 1 if opts.stop_step else len(STEPS)
    chosen = STEPS[a:b]
    for i, step in enumerate(chosen):
        missing = [t for t in step.requires if opts.tools.get(t) is None]
        if missing:
            return chosen[:i], f"{step.name} needs {', '.join(missing)}"
    return chosen, None


def checkpoint_path(build_dir: Path, partition: str, step: str) -> Path:
    return build_dir / "checkpoints" / partition / f"{STEP_NAMES.index(step):02d}_{step}.onnx"


def rtl_checkpoint(build_dir: Path, partition: str) -> Path:
    """The checkpoint the RTL top and its synthesis read: step_size_inner_fifos's, or
    step_hw_codegen's for a build from before that step or one stopped at codegen (a sizing
    checkpoint older than the codegen one is a previous build's, so stale)."""
    codegen = checkpoint_path(build_dir, partition, "step_hw_codegen")
    sized = checkpoint_path(build_dir, partition, "step_size_inner_fifos")
    if sized.is_file() and (
        not codegen.is_file() or sized.stat().st_mtime >= codegen.stat().st_mtime
    ):
        return sized
    return codegen


def save_model(model: ModelWrapper, path: Path) -> None:
    """Write a checkpoint atomically (a crash never leaves half a model)."""
    with atomic_path(path) as tmp:
        model.save(str(tmp))


def _pcfg(p: PartitionSpec, opts: FlowOptions, target: int | None) -> PartitionCfg:
    return PartitionCfg(
        name=p.name,
        kind=p.kind,
        fpgapart=opts.fpgapart,
        clk_ns=1000.0 / opts.clock_mhz,
        target_cycles=target,
        mvau_style=opts.mvau_style,
        inner_fifos=opts.inner_fifos,
        overrides=opts.overrides.get(p.name, {}),
        work_dir=opts.build_dir / "partitions" / p.name,
        vitis_hls=opts.tools.get("vitis_hls"),
        vivado=opts.tools.get("vivado"),
    )


class Flow:
    """Runs the selected steps over a design's partitions."""

    def __init__(self, design: Design, opts: FlowOptions, progress: Progress | None = None) -> None:
        self.design, self.opts = design, opts
        self.progress = progress or NullProgress()
        self.steps, self.stopped_for = select_steps(opts)
        self.models: dict[str, ModelWrapper] = {}
        self.log: dict = {"steps": {s.name: {"seconds": 0.0, "partitions": {}} for s in self.steps}}
        self.log["verification"] = {}
        self.targets: dict[str, int] = {}

    # -- sources ----------------------------------------------------------------------------
    def source(self, p: PartitionSpec) -> ModelWrapper:
        """The model the first selected step starts from: export, generated unit or checkpoint."""
        first = self.steps[0].name if self.steps else None
        if first is not None and STEP_NAMES.index(first) > 0:
            prev = STEP_NAMES[STEP_NAMES.index(first) - 1]
            path = checkpoint_path(self.opts.build_dir, p.name, prev)
            if not path.is_file():
                raise FileNotFoundError(
                    f"hw.start_step={first}: no checkpoint {path}; run the build from an earlier step"
                )
            return ModelWrapper(str(path))
        if p.kind == "decision":
            assert p.reads is not None  # load_design gives every decision unit its head
            head = self.models[p.reads]
            logit_type = head.get_tensor_datatype(head.graph.output[0].name)
            if not logit_type.is_integer():
                logit_type = DataType[self.design.manifest["exits"][p.index]["logit_datatype"]]
            return decision.decision_model(
                self.opts.impl,
                self.design.policy.kind,
                p.threshold,
                self.design.num_classes,
                logit_type,
                len(self.design.exit_after),
            )
        return ModelWrapper(str(p.source))

    def target_for(self, p: PartitionSpec) -> int:
        if p.name in self.targets:
            return self.targets[p.name]
        return folding.target_cycles(self.opts.clock_mhz, self.opts.target_fps * p.rate_fraction)

    # -- one partition ----------------------------------------------------------------------
    def verify(self, p: PartitionSpec, model: ModelWrapper, step: str, samples: int) -> dict:
        result, got = verify.check(model, p.data, samples, self.opts.workers)
        if step == "source" and not result.exact and result.mismatches:
            # a real-valued export: learn its output scale once, then compare everything to it
            p.data.out_scale = verify.fit_scale(got[0], p.data.outputs[0][: result.samples])
            result, _ = verify.check(model, p.data, samples, self.opts.workers)
        rec = result.to_dict()
        self.log["verification"].setdefault(p.name, {})[step] = rec
        if result.mismatches:
            raise VerificationError(
                f"{p.name}: after {step}, {result.mismatches} of {result.samples} samples differ "
                f"from quant/'s reference (max abs diff {result.max_abs_diff:g}); checkpoint in "
                f"{self.opts.build_dir / 'checkpoints' / p.name}"
            )
        log.debug("%s %s verified: %s", p.name, step, rec)
        return rec

    def reused(self, p: PartitionSpec, chosen: list[Step]) -> tuple[ModelWrapper, int] | None:
        """(checkpoint, steps it covers) copied from opts.reuse where that build has every
        step of `chosen` up to specialisation for a partition exported to the same bytes."""
        if self.opts.reuse is None or p.source is None or p.baseline or not chosen:
            return None
        if chosen[0].name != STEP_NAMES[0]:
            return None
        other_build, other_export = self.opts.reuse
        other = other_export / p.source.name
        if not other.is_file() or not filecmp.cmp(other, p.source, shallow=False):
            return None
        names = [s.name for s in chosen]
        upto = names[: names.index(REUSE_UPTO) + 1] if REUSE_UPTO in names else names
        name = p.meta.get("trained_name", p.name)  # the name in a build of every exit
        paths = [checkpoint_path(other_build, name, s) for s in upto]
        if not all(path.is_file() for path in paths):
            return None
        for step, path in zip(upto, paths, strict=True):
            dst = checkpoint_path(self.opts.build_dir, p.name, step)
            dst.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(dst) as tmp:
                shutil.copyfile(path, tmp)
            self.log["steps"][step]["partitions"][p.name] = {"reused_from": str(path)}
        log.info("%s: %d steps' checkpoints reused from %s", p.name, len(upto), other_build)
        return ModelWrapper(str(paths[-1])), len(upto)

    def run_partition(self, p: PartitionSpec, chosen: list[Step]) -> ModelWrapper:
        model = self.models.get(p.name) or self.source(p)
        if p.name not in self.models and chosen and chosen[0] is self.steps[0]:
            self.verify(p, model, "source", self.opts.verify_step_samples)
            hit = self.reused(p, chosen)
            if hit is not None:
                model, done = hit
                chosen = chosen[done:]
        for step in chosen:
            start = time.monotonic()
            target = self.target_for(p) if step.name == "step_set_folding" else None
            model = step.fn(model, _pcfg(p, self.opts, target))
            built = time.monotonic() - start
            save_model(model, checkpoint_path(self.opts.build_dir, p.name, step.name))
            n = self.opts.verify_samples if step.name == steps.PARITY_STEP else None
            rec = self.verify(p, model, step.name, n or self.opts.verify_step_samples)
            entry = self.log["steps"][step.name]
            entry["seconds"] += time.monotonic() - start
            entry["partitions"][p.name] = {"build_seconds": round(built, 3), "verify": rec}
            log.info("%s %-32s %6.2f s (verified on %d)", p.name, step.name, built, rec["samples"])
        self.models[p.name] = model
        return model

    # -- the whole design -------------------------------------------------------------------
    def run(self) -> FlowResult:
        if not self.steps:
            return FlowResult(self.models, self.log, [], self.stopped_for)
        with self.progress.task("build partitions", total=len(self.design.partitions)) as task:
            for p in self.design.gated():
                self.run_partition(p, self.steps)
                task.advance()
            self.run_baseline(task)
        for entry in self.log["steps"].values():
            entry["seconds"] = round(entry["seconds"], 3)
        return FlowResult(self.models, self.log, [s.name for s in self.steps], self.stopped_for)

    def run_baseline(self, task) -> None:
        base = self.design.baseline()
        if not base:
            return
        names = [s.name for s in self.steps]
        fold_at = names.index("step_set_folding") if "step_set_folding" in names else len(names)
        for p in base:  # up to folding: the gated twin's checkpoints (same file, same steps)
            twin = self.design.by_name(p.name.removeprefix("base_"))
            for step in self.steps[:fold_at]:
                src = checkpoint_path(self.opts.build_dir, twin.name, step.name)
                model = ModelWrapper(str(src))
                save_model(model, checkpoint_path(self.opts.build_dir, p.name, step.name))
                self.log["steps"][step.name]["partitions"][p.name] = {"inherited_from": twin.name}
                self.models[p.name] = model
            if fold_at == 0:
                self.models[p.name] = self.source(p)
        if fold_at < len(names):
            self.choose_baseline_target(base)
        for p in base:
            self.run_partition(p, self.steps[fold_at:])
            task.advance()

    def choose_baseline_target(self, base: list[PartitionSpec]) -> None:
        from exitflow.hw.flow.estimates import add_res, cond_buffer_specs, partition_estimate

        fpgapart = self.opts.fpgapart
        ests = {
            p.name: partition_estimate(self.models[p.name], p.name, fpgapart)
            for p in self.design.gated()
        }
        cbufs = cond_buffer_specs(self.design.exit_after, ests, self.opts.cond_buffer_frames)
        budget = add_res(*(e.resources for e in ests.values()), *(c["resources"] for c in cbufs))
        lo, hi = baseline.target_bounds([self.target_for(p) for p in self.design.gated()])

        def fold(model: ModelWrapper, name: str, target: int) -> ModelWrapper:
            # the same steps the baseline partitions then run: folding, widths, converters
            cfg = _pcfg(self.design.by_name(name), self.opts, target)
            chain = (
                steps.step_set_folding,
                steps.step_minimize_bit_width,
                steps.step_insert_dwc_fifo,
            )
            for fn in chain:
                model = fn(model, cfg)
            return model

        models = {p.name: self.models[p.name] for p in base}
        target, used, fits = baseline.choose_target(models, budget, fpgapart, fold, lo, hi)
        for p in base:
            self.targets[p.name] = target
        self.log["baseline_folding"] = {
            "target_cycles": target,
            "budget": budget,
            "estimated": used,
            "fits_budget": fits,
            "rule": "smallest common target cycles whose LUT/BRAM_18K/URAM/DSP estimates all "
            "stay within the gated design's (stages + heads + decisions + cond buffers)",
        }
        log.info("baseline folded for %d cycles/frame (fits budget: %s)", target, fits)
