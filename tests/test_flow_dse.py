"""`exitflow run` with flow.dse: explore (the search on the configured design, in a sub-run),
then the chosen design built, with fast fake steps (as tests/test_flow.py) in place of FINN."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from test_flow import FAKES, _text, _write

import exitflow
import exitflow.steps
from exitflow import Run, run_flow, step_state
from exitflow.config import ProjectConfig, load_config
from exitflow.step_explore import explore_dir


def fake_dse(run: Run) -> None:
    """What the search writes, from the build it searched and the dse section: the chosen
    frame rate depends on the budget, so a budget change chooses another design."""
    lay = run.layout
    assert run.cfg.hw.stop_step == "step_specialize_layers"  # the sub-run's build stops there
    fps = 1000.0 * run.cfg.dse.budget
    over = {"policy": {"thresholds": [3.0, 4.0]}, "hw": {"target_fps": fps}}
    _write(lay.dse_overlay, yaml.safe_dump(over))
    _write(lay.dse_report, f'{{"searched": "{_text(lay.hwdesc)}"}}')


def fake_build(run: Run) -> None:
    FAKES["build"](run)
    _write(run.layout.build_report, "{}")


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, impl in {**FAKES, "build": fake_build, "dse": fake_dse}.items():
        step = dataclasses.replace(exitflow.steps.STEPS[name], impl=impl)
        monkeypatch.setitem(exitflow.steps.STEPS, name, step)


@pytest.fixture
def run(tmp_path: Path) -> Run:
    cfg = ProjectConfig(name="dseflow")
    cfg.flow.dse = True
    return Run(cfg, tmp_path / "run")


def _flow(run: Run) -> list[str]:
    return run_flow(run, steps=["train", "explore", "calibrate", "export", "build"]).ran


def test_without_flow_dse_the_flow_is_as_before() -> None:
    assert exitflow.steps.flow_steps(ProjectConfig()) == exitflow.FLOW
    cfg = ProjectConfig()
    cfg.flow.dse = True
    assert exitflow.steps.flow_steps(cfg) == ["train", "explore", *exitflow.FLOW[1:]]


def test_the_chosen_design_is_built_and_a_rerun_skips_everything(fakes, run) -> None:
    assert _flow(run) == ["train", "explore", "calibrate", "export", "build"]
    lay = run.layout
    # the search ran on the configured design's build in the sub-run, from the same training
    sub = explore_dir(lay)
    assert "fps=20000.0" in _text(sub / "build" / "hwdesc.json")
    assert (sub / "train" / "best.pt").samefile(lay.best_pt)
    # the run's build is the chosen design's, with the chosen thresholds calibrated
    assert "fps=1000.0" in _text(lay.hwdesc)
    assert "drop=" in _text(lay.policy)
    design = load_config(lay.dse_design)
    assert design.hw.target_fps == 1000.0 and design.flow.dse is False
    assert design.policy.thresholds == [3.0, 4.0]
    # config.yaml stays the config as given; the build's record holds the chosen design's
    assert load_config(lay.config).hw.target_fps == 20000.0
    assert run.record("build").config_snapshot["hw"]["target_fps"] == 1000.0
    assert step_state("build", run) == ("fresh", "up to date")
    assert _flow(run) == []


def test_a_changed_dse_section_reruns_the_search_and_what_it_changes(fakes, run) -> None:
    _flow(run)
    run.cfg.dse.budget = 0.5
    assert step_state("explore", run)[0] == "stale"
    # the new choice (500 frames/s) changes the build; the thresholds, and so calibrate and
    # export, are the same
    assert _flow(run) == ["explore", "build"]
    assert "fps=500.0" in _text(run.layout.hwdesc)
    run.cfg.dse.workers = 1  # how the search runs, not what it finds
    assert _flow(run) == []


def test_retraining_reruns_the_search_on_the_new_model(fakes, run) -> None:
    _flow(run)
    run.cfg.train.epochs += 1
    assert _flow(run) == ["train", "explore", "calibrate", "export", "build"]
    assert "epochs=11" in _text(explore_dir(run.layout) / "export" / "manifest.json")


def test_no_design_chosen_builds_the_design_as_configured(fakes, run, monkeypatch) -> None:
    def choose_nothing(run: Run) -> None:
        _write(run.layout.dse_report, "{}")

    step = dataclasses.replace(exitflow.steps.STEPS["dse"], impl=choose_nothing)
    monkeypatch.setitem(exitflow.steps.STEPS, "dse", step)
    _flow(run)
    assert "fps=20000.0" in _text(run.layout.hwdesc)
    assert not run.layout.dse_design.exists()


def test_the_report_says_which_design_was_built(fakes, run) -> None:
    from exitflow.report_data import design_built
    from exitflow.step_report import _chosen_by_dse

    _flow(run)
    _write(run.layout.dse_report, '{"chosen": {"fps": 1234.0}, "chosen_rule": "fastest"}')
    assert _chosen_by_dse(run)
    built = design_built(run.run_dir, True)
    assert built["chosen_by"] == "dse" and built["source"] == "dse/design.yaml"
    assert built["text"].startswith("chosen by the design-space exploration (fastest)")
    assert "1,234 frames/s" in built["text"]
    run.cfg.flow.dse = False
    assert not _chosen_by_dse(run)
    assert design_built(run.run_dir, False)["chosen_by"] == "config"
