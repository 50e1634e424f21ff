"""The real steps under the run machinery: a forced retrain with a bad dataset path loses nothing,
an over-budget build is exit 8 with its reports kept, and progress without a terminal."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from exitflow import BudgetError, PrerequisiteError, Run, run_step
from exitflow.cli import main
from exitflow.config import ProjectConfig, config_from_dict
from exitflow.logs import ConsoleProgress

TINY = {
    "name": "tiny_run",
    "dataset": {"name": "synthetic", "synthetic_samples": 240},
    "model": {"preset": "tiny"},
    "train": {"epochs": 1, "batch_size": 64, "threads": 1},
}


pytestmark = pytest.mark.usefixtures("restore_logging")


def test_forced_train_with_a_bad_dataset_path_keeps_the_model(tmp_path: Path, capsys) -> None:
    run_dir, cfg_path = tmp_path / "run", tmp_path / "design.yaml"
    cfg_path.write_text(yaml.safe_dump(TINY))
    argv = ["train", "-c", str(cfg_path), "-o", str(run_dir), "--data-root", str(tmp_path)]
    assert main(argv) == 0
    best = (run_dir / "train" / "best.pt").read_bytes()
    config_before = (run_dir / "config.yaml").read_text()
    typo = {**TINY, "dataset": {"name": "mnist", "path": str(tmp_path / "no-such-dir")}}
    cfg_path.write_text(yaml.safe_dump(typo))
    assert main([*argv, "--force"]) == 5
    assert "data error:" in capsys.readouterr().err
    assert (run_dir / "train" / "best.pt").read_bytes() == best
    assert (run_dir / "eval" / "outputs_val.npz").is_file()
    assert (run_dir / "config.yaml").read_text() == config_before
    cfg_path.write_text(yaml.safe_dump(TINY))
    assert main(["calibrate", "-c", str(cfg_path), "-o", str(run_dir)]) == 0  # still usable


def _over_budget_build(run_dir: Path, hw, tools, progress=None) -> dict:
    """Stands in for hw.build.run_build (a FINN build takes minutes): writes the reports."""
    from exitflow.hw.report import write_report

    report = {
        "board": "Pynq-Z2", "part": "xc7z020clg400-1", "clock_mhz": 100.0, "steps": {},
        "over_budget": {"LUT": 2.44},
    }  # fmt: skip
    write_report(report, Path(run_dir) / "build")
    return report


@pytest.fixture
def budget_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    pytest.importorskip("finn")
    import exitflow.hw.build

    monkeypatch.setattr(exitflow.hw.build, "run_build", _over_budget_build)
    run = Run(config_from_dict({"name": "budget"}), tmp_path / "run")
    (run.layout.export_dir).mkdir(parents=True)
    run.layout.manifest.write_text("{}")
    run.layout.reference.write_text("made by hand")
    run.layout.calibrate_dir.mkdir()
    run.layout.policy.write_text("{}")
    return run


def test_an_over_budget_build_fails_and_keeps_its_reports(budget_run: Run) -> None:
    with pytest.raises(BudgetError, match=r"LUT.*2\.44.*hw.allow_over_budget"):
        run_step("build", budget_run)
    lay = budget_run.layout
    assert json.loads(lay.build_report.read_text())["over_budget"] == {"LUT": 2.44}
    assert "**Over budget:**" in lay.build_report_md.read_text()
    assert budget_run.record("build").status == "failed"
    run_step("report", budget_run)
    summary = lay.summary_md.read_text()
    assert "**FAILED:**" in summary and "**Over budget:**" in summary
    lay.build_dir.joinpath("hwdesc.json").write_text("{}")
    with pytest.raises(PrerequisiteError, match="build failed"):
        run_step("simulate", budget_run)


def test_allow_over_budget_keeps_the_design(budget_run: Run) -> None:
    budget_run.cfg.hw.allow_over_budget = True
    result = run_step("build", budget_run).result
    assert result.over_budget == {"LUT": 2.44} and budget_run.record("build").status == "done"


def test_progress_without_a_terminal_logs_every_tenth(caplog: pytest.LogCaptureFixture) -> None:
    progress = ConsoleProgress(terminal=False, step=0.1, interval=3600)
    with (
        caplog.at_level(logging.INFO, logger="exitflow.progress"),
        progress.task("epoch 1", total=200) as task,
    ):
        for _ in range(200):
            task.advance()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 10
    assert lines[0].startswith("epoch 1: 20/200 (10%)") and "left" in lines[0]
    assert lines[-1].startswith("epoch 1: 200/200 (100%)")


def test_progress_without_a_total_logs_by_time(caplog: pytest.LogCaptureFixture) -> None:
    progress = ConsoleProgress(terminal=False, step=0.1, interval=0.0)
    with caplog.at_level(logging.INFO, logger="exitflow.progress"), progress.task("frames") as t:
        t.advance(5)
        t.advance(5)
    assert [r.getMessage().split(",")[0] for r in caplog.records] == [
        "frames: 5 done",
        "frames: 10 done",
    ]


def test_over_budget_is_refused_by_default() -> None:
    assert ProjectConfig().hw.allow_over_budget is False
