"""The `exitflow` command line, run in-process (plus one real subprocess)."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import exitflow.steps
from exitflow.cli import main
from exitflow.config import ProjectConfig, load_config, save_config

COMMANDS = [*exitflow.steps.STEPS, "run", "config"]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The CLI owns the root logger (console + a log file); put pytest's set-up back after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


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


@pytest.fixture
def unbuilt_train(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the train step point at a module that does not exist."""
    doc = exitflow.steps.STEPS["train"][2]
    monkeypatch.setitem(exitflow.steps.STEPS, "train", ("exitflow._no_such_step", "step_x", doc))


def test_unbuilt_step_exits_with_its_plain_message(
    unbuilt_train: None, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run_dir = tmp_path / "run"
    argv = ["train", "-c", str(config_file), "-o", str(run_dir), "--data-root", str(tmp_path)]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "not available: step 'train' is not built yet" in err and "Traceback" not in err
    assert load_config(run_dir / "config.yaml") == load_config(config_file)
    assert len(list((run_dir / "logs").glob("train-*.log"))) == 1


def test_step_module_without_its_function_is_unavailable(
    monkeypatch: pytest.MonkeyPatch, config_file: Path, tmp_path: Path
) -> None:
    monkeypatch.setitem(exitflow.steps.STEPS, "report", ("exitflow.context", "no_such", "doc"))
    assert main(["report", "-c", str(config_file), "-o", str(tmp_path / "run")]) == 3


def test_run_skips_unbuilt_steps_and_says_so(
    unbuilt_train: None, config_file: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    argv = ["run", "-c", str(config_file), "-o", str(run_dir), "--from", "train", "--to", "train"]
    assert main(argv) == 0
    (log,) = (run_dir / "logs").glob("run-*.log")
    text = log.read_text()
    assert "step 'train' is not built yet" in text and "not run: train" in text
