"""`exitflow build`: export/ + calibrate/ -> build/ (checkpoints, hwdesc.json, report.json/.md).

Reads the exported partitions (export/manifest.json, reference.npz), the calibrated policy
(calibrate/policy.json) and the validation outputs (eval/outputs_val.npz, for the rate each stage
is folded for), runs hw.flow, checks the composed design against quant/, writes the hardware
description and the reports.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from exitflow.core.errors import PrerequisiteError, VerificationError
from exitflow.core.files import write_json
from exitflow.core.outputs import load_outputs
from exitflow.core.policies import apply_policy, load_policy
from exitflow.core.progress import Progress
from exitflow.hw.boards import board_spec
from exitflow.hw.config import HwConfig, check_override_partitions
from exitflow.hw.flow import compose, finn_compat, folding
from exitflow.hw.flow.builder import Flow, FlowOptions
from exitflow.hw.flow.design import load_design, view_overrides
from exitflow.hw.flow.estimates import cond_buffer_specs, partition_estimate
from exitflow.hw.hwdesc import build_hwdesc, write_hwdesc
from exitflow.hw.ops.exit_decision import op as decision_op
from exitflow.hw.report import build_report, write_report
from exitflow.layout import RunLayout

log = logging.getLogger(__name__)


def rate_fractions(paths: RunLayout, hw: HwConfig, policy, exit_after: list[int], stages: int):
    """p_k per stage: hw.stage_rate_fractions, or the policy on the validation outputs."""
    exit_index = None
    if hw.stage_rate_fractions is None and paths.outputs_val.is_file():
        exit_index, _ = apply_policy(load_outputs(paths.outputs_val).logits, policy)
    elif hw.stage_rate_fractions is None:
        log.warning("%s missing: every stage folded for the full rate", paths.outputs_val)
    return folding.stage_fractions(hw.stage_rate_fractions, exit_index, exit_after, stages)


def _estimable(model) -> bool:
    return decision_op.is_custom_decision(model) or finn_compat.is_specialised(model)


def run_build(
    run_dir: Path,
    hw: HwConfig,
    tools: dict[str, Path | None],
    progress: Progress | None = None,
    reuse_from: Path | None = None,
) -> dict:
    """Run the whole build; returns the report dict. `reuse_from`: another run directory whose
    checkpoints up to specialisation are copied for partitions exported to the same bytes."""
    start = time.monotonic()
    paths = RunLayout(Path(run_dir))
    board = board_spec(hw.board)
    clock = hw.clock_mhz or board.clock_mhz
    if not paths.policy.is_file():
        raise PrerequisiteError(f"{paths.policy} does not exist: run `exitflow calibrate` first")
    policy = load_policy(paths.policy)
    manifest = json.loads(paths.manifest.read_text())
    exit_after = [int(x["after_stage"]) for x in manifest["exits"]]
    n_stages = sum(1 for p in manifest["partitions"] if p["kind"] == "stage")
    fractions = rate_fractions(paths, hw, policy, exit_after, n_stages)
    log.info("stage rate fractions %s", [round(f, 4) for f in fractions])
    finn_compat.init_finn(paths.finn_dir, workers=1)
    finn_compat.vivado_env(tools.get("vivado"), tools.get("vitis_hls"))
    impl = hw.decision_impl.value
    keep = getattr(hw, "keep_exits", None)
    design = load_design(paths.export_dir, policy, impl, fractions, hw.baseline, keep)
    overrides = hw.folding_overrides
    if keep is not None:
        hw_exits = design.manifest["kept_exits"]
        overrides = view_overrides(overrides, hw_exits)
        log.info("hw.keep_exits: building exits %s of %d as 0..%d", hw_exits, len(exit_after),
                 len(hw_exits) - 1)  # fmt: skip
    # the config check knows the partitions from the model config; this one from the export
    check_override_partitions(overrides, [p.name for p in design.partitions])
    opts = FlowOptions(
        build_dir=paths.build_dir,
        fpgapart=board.part,
        clock_mhz=clock,
        target_fps=hw.target_fps,
        impl=impl,
        verify_samples=hw.verify_samples,
        verify_step_samples=hw.verify_step_samples,
        overrides=overrides,
        tools=tools,
        workers=hw.workers,
        mvau_style=hw.mvau_style.resolve(board.mvau_style).value,
        inner_fifos=hw.inner_fifos.value,
        start_step=hw.start_step,
        stop_step=hw.stop_step,
        cond_buffer_frames=hw.cond_buffer_frames,
        reuse=_reuse(reuse_from),
    )
    flow = Flow(design, opts, progress)
    result = flow.run()
    flow_seconds = time.monotonic() - start
    extra: dict = {"design": design.name, "decision_impl": impl, "policy": policy.kind}
    extra["mvau_style"] = opts.mvau_style
    extra["inner_fifos"] = opts.inner_fifos
    extra["rate_fractions"] = fractions
    extra["exits"] = design.manifest.get("kept_exits", list(range(len(exit_after))))
    extra["steps_run"] = result.ran
    if result.stopped_for:
        extra["stopped"] = (
            f"{result.stopped_for}, which is not installed: the build ran up to "
            f"{result.ran[-1] if result.ran else '(nothing)'}; produced checkpoints in "
            f"{paths.build_dir / 'checkpoints'}, HLS/RTL sources under {paths.build_dir / 'finn'}, "
            "estimates, hwdesc.json and reports"
        )
        log.warning("build stopped: %s", extra["stopped"])
    gated_models = {p.name: result.models.get(p.name) for p in design.gated()}
    if all(m is not None for m in gated_models.values()):
        parity = compose.compose(design, gated_models, hw.verify_samples, hw.workers)
        extra["parity"] = parity.to_dict()
        log.info("composed design vs quant/: %s", parity.to_dict())
        if not parity.ok:
            write_json(paths.build_log, result.log)
            raise compose_error(parity)
    desc = None
    if result.models and all(_estimable(m) for m in result.models.values()):
        ests = {n: partition_estimate(m, n, board.part) for n, m in result.models.items()}
        cbufs = cond_buffer_specs(design.exit_after, ests, hw.cond_buffer_frames)
        targets = {p.name: flow.target_for(p) for p in design.partitions}
        desc = build_hwdesc(design, ests, cbufs, targets, board.name, clock, hw.fifo_depth, impl)
        if "kept_exits" in design.manifest:  # the trained exit each hardware exit is
            desc["policy"]["trained_exits"] = list(design.manifest["kept_exits"])
        write_hwdesc(desc, paths.hwdesc)
    else:
        log.warning("no estimates: the build stopped before step_specialize_layers")
    extra["build_seconds"] = round(flow_seconds, 2)
    extra["total_seconds"] = round(time.monotonic() - start, 2)
    report = build_report(desc, result.log, extra, board, clock)
    over = {
        k: round(v, 3) for k, v in report.get("gated", {}).get("utilisation", {}).items() if v > 1
    }
    if over:
        report["over_budget"] = over
        log.warning(
            "the gated design exceeds %s's budget (utilisation %s): lower hw.target_fps, change "
            "hw.mvau_style (lut/dsp), or pick a larger board",
            board.name,
            over,
        )
    write_json(paths.build_log, result.log)
    write_report(report, paths.build_dir)
    return report


def _reuse(run_dir: Path | None) -> tuple[Path, Path] | None:
    if run_dir is None:
        return None
    other = RunLayout(run_dir)
    if not other.checkpoints_dir.is_dir():
        return None
    return other.build_dir, other.export_dir


def compose_error(parity: compose.ComposeResult) -> VerificationError:
    return VerificationError(
        f"the composed hardware partitions disagree with quant/ on {parity.samples} images: "
        f"{parity.exit_mismatches} exit, {parity.class_mismatches} class and "
        f"{parity.logit_mismatches} logit mismatches (see build/build_log.json): a bug in the build flow; please report it with the log"
    )
