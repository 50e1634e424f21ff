"""The flow machinery (exitflow.runner) with fast fake steps in place of the real ones.

The fakes keep the built-in declarations (what each step reads, writes and depends on) and only
swap the work, so these tests exercise staleness, skipping, replacing outputs, rollback, locking
and config.yaml exactly as the real steps see them, in milliseconds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import exitflow
import exitflow.steps
from exitflow import (
    DataError,
    PrerequisiteError,
    Run,
    RunLockedError,
    StaleError,
    VerificationError,
    run_flow,
    run_step,
)
from exitflow.config import ProjectConfig, load_config
from exitflow.results import TrainResult

FAKE_FLOW = ["train", "calibrate", "export", "build", "simulate"]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _text(path: Path) -> str:
    return path.read_text()


# Each fake writes what the real step writes, derived from its inputs and config, so that a
# change upstream changes the bytes downstream (as real training does).
def fake_train(run: Run) -> TrainResult:
    lay = run.layout
    tag = f"seed={run.cfg.train.seed} epochs={run.cfg.train.epochs} n={run.cfg.train.batch_size}"
    _write(lay.best_pt, tag)
    _write(lay.outputs_val, "val " + tag)
    _write(lay.outputs_test, "test " + tag)
    return TrainResult(lay.best_pt, best_epoch=run.cfg.train.epochs, best_val_acc=0.5)


def fake_calibrate(run: Run) -> None:
    lay = run.layout
    _write(lay.policy, f"policy({_text(lay.outputs_val)}, drop={run.cfg.policy.max_accuracy_drop})")


def fake_export(run: Run) -> None:
    lay = run.layout
    _write(lay.manifest, f"manifest({_text(lay.best_pt)})")
    _write(lay.reference, f"reference({_text(lay.policy)})")


def fake_build(run: Run) -> None:
    lay = run.layout
    for i in range(3):  # several files: an interrupted build must not leave a mix
        _write(lay.build_dir / f"part{i}.txt", f"{i} {_text(lay.reference)}")
    _write(lay.hwdesc, f"hwdesc({_text(lay.manifest)}, fps={run.cfg.hw.target_fps})")


def fake_simulate(run: Run) -> None:
    lay = run.layout
    _write(lay.sim_report, f"sim({_text(lay.hwdesc)}, {_text(lay.reference)})")


FAKES = {
    "train": fake_train,
    "calibrate": fake_calibrate,
    "export": fake_export,
    "build": fake_build,
    "simulate": fake_simulate,
}


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> dict[str, exitflow.Step]:
    """The built-in steps with their work replaced by the fakes above."""
    for name, impl in FAKES.items():
        step = dataclasses.replace(exitflow.steps.STEPS[name], impl=impl)
        monkeypatch.setitem(exitflow.steps.STEPS, name, step)
    return dict(exitflow.steps.STEPS)


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return Run(ProjectConfig(name="flowtest"), tmp_path / "run")


def _flow(run: Run, **kw) -> list[str]:
    return run_flow(run, steps=FAKE_FLOW, **kw).ran


def test_a_second_flow_skips_everything_and_returns_the_typed_results(fakes, run) -> None:
    first = run_flow(run, steps=FAKE_FLOW)
    assert first.ran == FAKE_FLOW
    again = run_flow(run, steps=FAKE_FLOW)
    assert again.ran == []
    assert again.results["train"] == first.results["train"] == run.result("train")
    assert isinstance(again.results["train"], TrainResult)
    assert again.results["train"].path == run.layout.best_pt
    assert sorted(run.done()) == sorted(FAKE_FLOW)


def test_retraining_makes_a_plain_flow_rerun_every_later_step(fakes, run) -> None:
    _flow(run)
    old_sim = _text(run.layout.sim_report)
    run.cfg.train.epochs += 1  # as `train --force` with new settings: new weights, new outputs
    assert run_step("train", run).ran
    assert _flow(run) == ["calibrate", "export", "build", "simulate"]
    new_sim = _text(run.layout.sim_report)
    assert new_sim != old_sim and f"epochs={run.cfg.train.epochs}" in new_sim


def test_a_step_alone_refuses_stale_inputs_and_names_the_rerun(fakes, run) -> None:
    _flow(run)
    run.cfg.policy.max_accuracy_drop = 0.05
    run_step("calibrate", run)  # a new policy: export's reference is now stale
    hwdesc = _text(run.layout.hwdesc)
    run.force = True
    with pytest.raises(StaleError, match=r"exitflow run --from export --to build"):
        run_step("build", run)
    assert _text(run.layout.hwdesc) == hwdesc  # refused before touching anything
    run.force = False
    assert _flow(run, start="export") == ["export", "build", "simulate"]


def test_a_config_change_of_one_section_reruns_only_the_steps_that_read_it(fakes, run) -> None:
    _flow(run)
    run.cfg.hw.target_fps *= 2
    run.cfg.train.threads = 1  # threads do not change the model: no retraining
    run.cfg.hw.workers = 2
    assert _flow(run) == ["build", "simulate"]


def test_a_failed_forced_step_keeps_its_old_outputs(fakes, run, monkeypatch) -> None:
    _flow(run)
    best, record = _text(run.layout.best_pt), _text(run.layout.record("train"))

    def bad_data(r: Run) -> None:
        _write(r.layout.best_pt, "half-written")  # whatever it wrote before failing goes
        raise DataError("dataset.path /nope does not exist: fix dataset.path")

    monkeypatch.setitem(
        exitflow.steps.STEPS, "train", dataclasses.replace(fakes["train"], impl=bad_data)
    )
    run.force = True
    with pytest.raises(DataError):
        run_step("train", run)
    assert _text(run.layout.best_pt) == best
    assert _text(run.layout.record("train")) == record
    assert not (run.run_dir / ".previous").exists() or not any(
        (run.run_dir / ".previous").iterdir()
    )
    run.force = False
    assert _flow(run) == []  # still complete and up to date


def test_an_interrupted_forced_build_is_rolled_back(fakes, run, monkeypatch) -> None:
    _flow(run)
    files = {p.name: _text(p) for p in run.layout.build_dir.iterdir()}
    run.cfg.hw.target_fps *= 2

    def interrupted(r: Run) -> None:
        _write(r.layout.build_dir / "part0.txt", "new")
        raise Interrupted  # takes the runner's KeyboardInterrupt path (any BaseException)

    monkeypatch.setitem(
        exitflow.steps.STEPS, "build", dataclasses.replace(fakes["build"], impl=interrupted)
    )
    with pytest.raises(Interrupted):
        run_step("build", run)
    assert {p.name: _text(p) for p in run.layout.build_dir.iterdir()} == files
    monkeypatch.setitem(exitflow.steps.STEPS, "build", fakes["build"])
    assert _flow(run) == ["build", "simulate"]  # the changed config still reruns it


class Interrupted(BaseException):
    """Stands in for KeyboardInterrupt, which pytest would take as the user stopping the tests."""


_KILLED = """
import os, sys
from pathlib import Path
from exitflow.config import ProjectConfig
from exitflow.run import Run
from exitflow.runner import run_step
from exitflow.steps import STEPS
import dataclasses

def killed(run):
    run.layout.build_dir.mkdir()
    (run.layout.build_dir / "part0.txt").write_text("new")
    os._exit(17)  # as kill -9: no cleanup at all

run = Run(ProjectConfig(name="flowtest"), sys.argv[1], force=True)
run_step(dataclasses.replace(STEPS["build"], impl=killed), run)
"""


def test_a_killed_build_is_rolled_back_by_the_next_command(fakes, run) -> None:
    _flow(run)
    files = {p.name: _text(p) for p in run.layout.build_dir.iterdir()}
    done = subprocess.run(
        [sys.executable, "-c", _KILLED, str(run.run_dir)], capture_output=True, timeout=120
    )
    assert done.returncode == 17, done.stderr
    assert _text(run.layout.build_dir / "part0.txt") == "new"  # the mix the kill left
    assert json.loads(_text(run.layout.record("build")))["status"] == "running"
    assert _flow(run) == []  # the next command restores the old build, which is up to date
    assert {p.name: _text(p) for p in run.layout.build_dir.iterdir()} == files


def test_judged_bad_outputs_are_kept_and_refused_downstream(fakes, run, monkeypatch) -> None:
    _flow(run)

    def mismatching(r: Run) -> None:
        fake_export(r)
        _write(r.layout.parity, "mismatches: 3")
        raise VerificationError("QONNX export is not bit-exact: see export/parity.json")

    monkeypatch.setitem(
        exitflow.steps.STEPS, "export", dataclasses.replace(fakes["export"], impl=mismatching)
    )
    run.force = True
    with pytest.raises(VerificationError):
        run_step("export", run)
    assert _text(run.layout.parity) == "mismatches: 3"  # kept for inspection
    run.force = False
    with pytest.raises(PrerequisiteError, match="export failed"):
        run_step("build", run)


def test_config_yaml_is_written_only_when_a_step_ran_and_succeeded(fakes, run) -> None:
    assert run_step("train", run).ran
    assert load_config(run.layout.config) == run.cfg
    saved = _text(run.layout.config)
    run.cfg.policy.max_accuracy_drop = 0.3
    with pytest.raises(PrerequisiteError):
        run_step("build", run)  # fails: config.yaml keeps the config the run was made with
    assert not run_step("train", run).ran  # skipped: nor does a skip overwrite it
    assert _text(run.layout.config) == saved
    run_step("calibrate", run)
    assert load_config(run.layout.config).policy.max_accuracy_drop == 0.3
    rec = json.loads(_text(run.layout.record("train")))
    assert rec["config_snapshot"]["policy"]["max_accuracy_drop"] != 0.3  # each record keeps its own


def test_a_second_command_on_a_locked_run_is_refused(fakes, run) -> None:
    other = Run(run.cfg, run.run_dir)
    with run.locked():
        with pytest.raises(RunLockedError, match=f"process {os.getpid()}"):
            run_step("train", other)
        assert run_step("train", run).ran  # the holder itself goes on (the lock is re-entrant)
    assert not run_step("train", other).ran  # released


def test_user_callables_run_between_the_built_in_steps(fakes, run) -> None:
    seen: list[str] = []

    def check_policy(r: Run) -> str:
        """a user's own check between two steps"""
        seen.append(_text(r.layout.policy))
        return "checked"

    flow = run_flow(run, steps=["train", "calibrate", check_policy, "export"])
    assert flow.ran == ["train", "calibrate", "check_policy", "export"]
    assert flow.results["check_policy"] == "checked" and seen == [_text(run.layout.policy)]
    assert run_flow(run, steps=["train", "calibrate", check_policy]).ran == ["check_policy"]


def test_outputs_made_before_records_are_adopted(fakes, run) -> None:
    _flow(run)
    for rec in run.layout.records_dir.glob("*.json"):
        rec.unlink()  # as a run made by an older exitflow
    mtime = run.layout.best_pt.stat().st_mtime_ns
    assert _flow(run) == []
    assert run.layout.best_pt.stat().st_mtime_ns == mtime


def test_an_unknown_step_name_is_a_config_error(run) -> None:
    with pytest.raises(exitflow.ConfigError, match="the steps are train, explore, calibrate"):
        run_flow(run, steps=["train", "trian"])


def test_import_exitflow_is_light() -> None:
    code = textwrap.dedent(
        """
        import sys, exitflow
        exitflow.Run, exitflow.run_flow, exitflow.STEPS, exitflow.RunLayout
        heavy = [m for m in ("torch", "finn", "brevitas", "onnx") if m in sys.modules]
        print(heavy)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_stale_chain_names_its_earliest_step(fakes, run) -> None:
    """After a policy change, simulate reads build's outputs, which are stale, and so are
    export's, which build reads: the advice must start at export, or following it fails again."""
    _flow(run)
    run.cfg.policy.max_accuracy_drop = 0.05
    run_step("calibrate", run)
    with pytest.raises(StaleError, match=r"--from export --to simulate") as info:
        run_step("simulate", run)
    assert "export" in str(info.value).split("rerun")[0]  # named as stale, not only as advice
    assert _flow(run, start="export") == ["export", "build", "simulate"]


def test_force_for_one_flow_does_not_stick_to_the_run(fakes, run) -> None:
    _flow(run)
    assert _flow(run, force=True) == FAKE_FLOW
    assert run.force is False
    assert _flow(run) == []  # up to date again, and not forced
