"""The `exitflow` command line, run in-process (plus one real subprocess)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

import exitflow.steps
from exitflow.cli import main
from exitflow.config import ProjectConfig, load_config, save_config
from exitflow.core import errors

COMMANDS = [*exitflow.steps.STEPS, "run", "config"]
pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return save_config(ProjectConfig(name="clitest"), tmp_path / "design.yaml")


def exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


def test_help_lists_every_command(capsys: pytest.CaptureFixture) -> None:
    assert exit_code(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: exitflow")
    for command in COMMANDS:
        assert command in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture) -> None:
    assert main([]) == 2
    assert "usage: exitflow" in capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command: str, capsys: pytest.CaptureFixture) -> None:
    assert exit_code([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: exitflow {command}")
    assert ("--init" if command == "config" else "--config") in out


def test_version_and_help_from_a_real_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "exitflow.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: exitflow") and "config" in done.stdout


def test_config_init_writes_a_loadable_file_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "sub" / "new.yaml"
    assert main(["config", "--init", str(path)]) == 0
    assert load_config(path) == ProjectConfig()
    path.write_text("name: mine\n")
    assert main(["config", "--init", str(path)]) == 2
    assert "not overwriting" in capsys.readouterr().err
    assert path.read_text() == "name: mine\n"


def test_config_check_prints_the_resolved_config(
    config_file: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["config", "--check", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert "name: clitest" in out and "val_fraction: 0.1" in out  # defaults filled


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("train:\n  epoch: 3\n", "train.epoch"),
        ("model:\n  stages:\n  - channels: [8]\n    weight_bits: 0\n", "weight_bits"),
        ("dataset:\n  name: fashion_mnsit\n", "fashion_mnist"),
    ],
)
def test_config_check_of_a_bad_file_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture, text: str, named: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    assert main(["config", "--check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error:") and named in err and str(bad) in err
    assert "Traceback" not in err


def test_config_describe_lists_keys_with_docs(capsys: pytest.CaptureFixture) -> None:
    assert main(["config", "--describe"]) == 0
    lines = capsys.readouterr().out.splitlines()
    dataset_name = [line for line in lines if line.startswith("dataset.name ")]
    assert len(dataset_name) == 1 and "dataset to load" in dataset_name[0]


def test_config_needs_one_action(capsys: pytest.CaptureFixture) -> None:
    assert exit_code(["config"]) == 2
    assert "one of the arguments" in capsys.readouterr().err


def test_missing_config_file_says_how_to_write_one(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["train", "-c", str(tmp_path / "nope.yaml")]) == 2
    assert "exitflow config --init" in capsys.readouterr().err


def _run_args(command: str, config_file: Path, run_dir: Path, *extra: str) -> list[str]:
    return [command, "-c", str(config_file), "-o", str(run_dir), *extra]


def _log_text(run_dir: Path) -> str:
    return "".join(p.read_text() for p in (run_dir / "logs").glob("*.log"))


@pytest.mark.parametrize(
    "argv",
    [["calibrate"], ["simulate"], ["build"], ["run", "--from", "calibrate", "--to", "evaluate"]],
)
def test_missing_prerequisite_is_exit_3_naming_the_step_to_run_first(
    argv: list[str], config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run_dir = tmp_path / "run"
    assert main(_run_args(argv[0], config_file, run_dir, *argv[1:])) == 3
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("missing prerequisite:") and "first" in err
    assert "run `exitflow " in err and "Traceback" not in err
    assert "Traceback" in _log_text(run_dir)  # the log keeps the traceback
    assert not (run_dir / "config.yaml").exists()  # nothing ran: the run's config is not touched


def _failing_step(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def boom(run: object) -> None:
        raise exc

    step = dataclasses.replace(exitflow.steps.STEPS["report"], impl=boom)
    monkeypatch.setitem(exitflow.steps.STEPS, "report", step)


@pytest.mark.parametrize(
    "cls",
    [
        errors.ConfigError,
        errors.PrerequisiteError,
        errors.StaleError,
        errors.ToolMissingError,
        errors.DataError,
        errors.VerificationError,
        errors.SimulationError,
        errors.BudgetError,
        errors.RunLockedError,
    ],
)
def test_each_error_class_exits_with_its_documented_code_and_one_line(
    cls: type[errors.ExitflowError],
    monkeypatch: pytest.MonkeyPatch,
    config_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    _failing_step(monkeypatch, cls("the problem; the fix"))
    code = main(_run_args("report", config_file, tmp_path / "run"))
    assert code == cls.exit_code and code in errors.EXIT_CODES and code not in (0, 1)
    err = capsys.readouterr().err
    assert err.strip().endswith(": the problem; the fix") and "Traceback" not in err
    assert main(_run_args("report", config_file, tmp_path / "run", "--debug")) == code
    assert "Traceback" in capsys.readouterr().err


def test_exit_codes_are_documented_in_docs_errors_md() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text()
    for code in errors.EXIT_CODES:
        assert f"| {code} |" in text
    for name in errors.__all__:
        if name != "EXIT_CODES":
            assert name in text


def test_a_bug_is_exit_1_with_its_traceback(
    monkeypatch: pytest.MonkeyPatch,
    config_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    _failing_step(monkeypatch, ZeroDivisionError("oops"))
    assert main(_run_args("report", config_file, tmp_path / "run")) == 1
    assert "a bug in exitflow" in capsys.readouterr().err
    assert "ZeroDivisionError" in _log_text(tmp_path / "run")


def test_output_that_is_a_file_is_a_config_error(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(_run_args("report", config_file, afile)) == 2
    err = capsys.readouterr().err
    assert "is a file" in err and "-o" in err and "Traceback" not in err
    assert afile.read_text() == "x"


def test_step_help_says_what_it_reads_writes_and_its_options(capsys: pytest.CaptureFixture) -> None:
    texts = {}
    for command in exitflow.steps.STEPS:
        assert exit_code([command, "--help"]) == 0
        texts[command] = " ".join(capsys.readouterr().out.split())
    assert "--vivado" not in texts["train"] and "--vivado" in texts["build"]
    assert "--data-root" in texts["train"] and "--data-root" not in texts["simulate"]
    assert "Reads eval/outputs_val.npz" in texts["calibrate"]
    assert "Writes build/" in texts["build"] and "Writes sim/" in texts["simulate"]
    assert len(set(texts.values())) == len(texts)  # no two steps share one generic text


def test_a_locked_run_is_refused_with_exit_9_naming_the_holder(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert main(_run_args("report", config_file, run_dir)) == 9
        err = capsys.readouterr().err
        assert f"in use by process {holder.pid}" in err and "holder-command" in err
        assert not (run_dir / "report.md").exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(_run_args("report", config_file, run_dir)) == 0  # the lock died with its holder


_HOLD_LOCK = """
import sys, time
from exitflow.config import ProjectConfig
from exitflow.run import Run
with Run(ProjectConfig(), sys.argv[1], command="holder-command").locked():
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_reader_that_goes_away_is_not_an_internal_error():
    """`exitflow config --describe | head`: the pipe closes before the CLI has written all."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "exitflow.cli", "config", "--describe"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the first flush: every write meets a closed pipe
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    assert "internal error" not in err and "Traceback" not in err, err


def test_run_from_explore_is_accepted_on_a_flow_dse_config(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cfg = ProjectConfig(name="clidse")
    cfg.flow.dse = True
    dse_file = save_config(cfg, tmp_path / "dse.yaml")
    run_dir = tmp_path / "run"
    # accepted: the flow starts at explore, which needs the trained model first
    assert main(_run_args("run", dse_file, run_dir, "--from", "explore", "--to", "explore")) == 3
    err = capsys.readouterr().err
    assert "missing prerequisite:" in err and "exitflow train" in err


def test_run_from_explore_without_flow_dse_names_the_fix(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(_run_args("run", config_file, tmp_path / "run", "--from", "explore")) == 2
    err = capsys.readouterr().err
    assert "--from explore: not a step of this config's flow" in err and "flow.dse: true" in err
    assert main(_run_args("run", config_file, tmp_path / "run", "--to", "nosuch")) == 2
    assert "--to nosuch" in capsys.readouterr().err
