"""The `explore` step: `exitflow run` with flow.dse searches the design space before the build.

The search (exitflow.dse) needs FINN's specialised checkpoints of the configured design and its
calibrated policy, while the run's own calibrate, export and build make the design it chooses.
So the configured design is calibrated, exported and built up to `step_specialize_layers` in a
sub-run, cache/explore/ (its own step records: only what changed reruns; the trained model is
linked, not copied), and searched there. The step's output is the run's dse/ (report, overlay,
design.yaml); exitflow.runner then runs every later step on the config with the overlay applied
(`design_config`), and the build reuses the sub-run's checkpoints where the partition is the
same (hw.build).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from exitflow.core.files import write_text
from exitflow.core.schema import to_dict
from exitflow.layout import RunLayout
from exitflow.results import DseResult
from exitflow.run import Run, remove
from exitflow.steps import STEPS

__all__ = ["EXPLORE_STEPS", "design_config", "explore", "explore_dir", "step_explore"]

log = logging.getLogger(__name__)

# what the sub-run runs: the configured design up to specialisation, then the search
EXPLORE_STEPS = ["calibrate", "export", "build", "dse"]
SPECIALISED = "step_specialize_layers"


def explore_dir(layout: RunLayout) -> Path:
    """The sub-run the search works in: <run>/cache/explore."""
    return layout.run_dir / "cache" / "explore"


def explore_config(cfg: Any) -> Any:
    """The configured design as the sub-run builds it: up to specialisation, verified on
    hw.verify_step_samples images, no flow.dse."""
    from exitflow.config import config_from_dict

    data = to_dict(cfg)
    data["output_dir"] = None
    data["flow"] = {**data.get("flow", {}), "dse": False}
    hw = data["hw"]
    # The search reads the specialised checkpoints, not the checks: its build verifies each
    # step, the parity step and the composed design on hw.verify_step_samples images (on fmnist3
    # at 500 images, 95% of that build's time was verification). The run's own build, which
    # takes these checkpoints, checks the composed chosen design on hw.verify_samples.
    samples = min(hw["verify_samples"], hw["verify_step_samples"])
    data["hw"] = {**hw, "start_step": None, "stop_step": SPECIALISED, "verify_samples": samples}
    return config_from_dict(data)


def design_config(cfg: Any, layout: RunLayout) -> Any | None:
    """The config of the design the search chose: `cfg` with dse/overlay.yaml merged; None when
    flow.dse is off or there is no overlay (no search yet, or no design met the constraints)."""
    if not getattr(getattr(cfg, "flow", None), "dse", False) or not layout.dse_overlay.is_file():
        return None
    from exitflow.config import config_from_dict
    from exitflow.dse.overlay import merge

    over = yaml.safe_load(layout.dse_overlay.read_text()) or {}
    return config_from_dict(merge(to_dict(cfg), over))


def _link_train_outputs(src: RunLayout, dst: RunLayout) -> None:
    """The trained model and its outputs into the sub-run (hard links; copies across devices),
    replaced every time so that a retrained model is what the sub-run sees."""
    pairs = [(p, dst.train_dir / p.relative_to(src.train_dir)) for p in src.train_dir.rglob("*")]
    pairs += [(src.outputs_val, dst.outputs_val), (src.outputs_test, dst.outputs_test)]
    remove(dst.train_dir)
    for a, b in pairs:
        if not a.is_file():
            continue
        b.parent.mkdir(parents=True, exist_ok=True)
        remove(b)
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)


def explore(run: Run) -> DseResult:
    """Calibrate, export, build up to specialisation and search the configured design in
    cache/explore/; write the run's dse/ (report.json/.md, overlay.yaml, design.yaml)."""
    from exitflow.runner import run_flow

    lay = run.layout
    sub_lay = RunLayout(explore_dir(lay))
    _link_train_outputs(lay, sub_lay)
    sub = Run(
        explore_config(run.cfg),
        sub_lay.run_dir,
        run.data_root,
        run.tools,
        run.progress,
        force=run.force,  # --force redoes the search's steps too
        command=f"{run.command} (explore)",
    )
    log.info("explore: the configured design up to %s in %s, then the search", SPECIALISED,
             sub_lay.run_dir)  # fmt: skip
    run_flow(sub, steps=EXPLORE_STEPS)
    lay.dse_dir.mkdir(parents=True, exist_ok=True)
    for name in ("dse_report", "dse_report_md", "dse_overlay"):
        if getattr(sub_lay, name).is_file():
            shutil.copy2(getattr(sub_lay, name), getattr(lay, name))
    res = sub.result("dse")
    design = None
    if lay.dse_overlay.is_file():
        from exitflow.dse.overlay import merge

        over = yaml.safe_load(lay.dse_overlay.read_text()) or {}
        whole = merge(to_dict(run.cfg), over)
        whole["flow"] = {**whole.get("flow", {}), "dse": False}  # built as it stands
        note = "# the design the search chose (exitflow run with flow.dse builds it)\n"
        write_text(lay.dse_design, note + yaml.safe_dump(whole, sort_keys=False))
        design = lay.dse_design
    else:
        log.warning("explore: no design met the constraints: the design is built as configured")
    return DseResult(
        lay.dse_report,
        design,
        getattr(res, "candidates", 0),
        getattr(res, "simulated", 0),
        getattr(res, "minutes", 0.0),
    )


step_explore = STEPS["explore"]
