"""flow.dse on the tiny design with the real steps: explore (calibrate, export, build up to
specialisation and the search, in cache/explore/), then the chosen design built from the
search's checkpoints and simulated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import tiny_rtl_config

from exitflow import run_flow, step_state
from exitflow.config import config_from_dict, load_config
from exitflow.run import Run


@pytest.mark.slow
def test_run_explores_then_builds_and_simulates_the_chosen_design(
    tiny_rtl_run: Path, tmp_path: Path, data_root: Path
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_rtl_run, run_dir, ignore=shutil.ignore_patterns("build", "sim", "rtl"))
    data = tiny_rtl_config(run_dir)
    data["flow"] = {"dse": True}
    data["dse"] = {"curve_points": 2, "fps_points": 4, "buffer_depths": [4, 8],
                   "budgets": [0.5, 1.0], "sim_frames": 200, "workers": 1}  # fmt: skip
    run = Run(config_from_dict(data), run_dir, data_root)
    steps = ["train", "explore", "calibrate", "export", "build", "simulate", "report"]
    flow = run_flow(run, steps=steps)
    assert "explore" in flow.ran and "build" in flow.ran and "simulate" in flow.ran
    lay = run.layout
    design = load_config(lay.dse_design)
    built = run.record("build").config_snapshot["hw"]
    assert built["target_fps"] == design.hw.target_fps
    assert built["folding_overrides"] == design.hw.folding_overrides
    # the search's build stopped at specialisation; the run's build took its checkpoints
    sub = json.loads((lay.run_dir / "cache/explore/build/report.json").read_text())
    assert sub["steps_run"][-1] == "step_specialize_layers"
    log = json.loads(lay.build_log.read_text())
    assert "reused_from" in log["steps"]["step_specialize_layers"]["partitions"]["stage0"]
    assert json.loads(lay.build_report.read_text())["parity"]["exit_mismatches"] == 0
    summary = json.loads(lay.summary_json.read_text())
    assert summary["design"]["chosen_by"] == "dse"
    assert "chosen by the design-space exploration" in lay.summary_html.read_text()
    assert all(step_state(s, run)[0] == "fresh" for s in steps[:-1])
    assert run_flow(run, steps=steps).ran == ["report"]
