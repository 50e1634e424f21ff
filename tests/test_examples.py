"""examples/api_flow.py, the benchmarks and scripts/sweep.py, run as a user runs them.

One module-scoped run of the example on the tiny synthetic design (about 15 s with the FINN
build); the simulator benchmark then runs on that run, writing its figures to a temporary file.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

import exitflow

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "api_flow.py"


def _python(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def _lines(stdout: str) -> dict[str, str]:
    """The example's per-step lines, by step name."""
    return {line.split()[0]: line for line in stdout.splitlines() if line.split()[:1]}


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    pytest.importorskip("finn")
    run_dir = tmp_path_factory.mktemp("example") / "run"
    done = _python(EXAMPLE, "-o", run_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir, done.stdout


def test_the_example_runs_every_step_and_prints_its_result(example_run) -> None:
    run_dir, stdout = example_run
    lines = _lines(stdout)
    for step in exitflow.FLOW:
        assert "ran in" in lines[step], lines.get(step)
    assert "TrainResult(path=train/best.pt" in lines["train"]
    assert "exit_mismatches=0" in lines["simulate"]
    run = exitflow.Run(exitflow.load_config(exitflow.RunLayout(run_dir).config), run_dir)
    assert run.done() == sorted(exitflow.FLOW)
    assert run.layout.sim_report.is_file() and run.layout.summary_md.is_file()


def test_running_the_example_again_skips_what_is_up_to_date(example_run) -> None:
    run_dir, _ = example_run
    again = _python(EXAMPLE, "-o", run_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    lines = _lines(again.stdout)
    skipped = [s for s in exitflow.FLOW if "up to date" in lines[s]]
    assert skipped == [s for s in exitflow.FLOW if s != "report"]
    assert "exit_mismatches=0" in lines["simulate"]  # the result, read back from its record


def test_the_example_returns_the_error_s_exit_code(tmp_path: Path) -> None:
    done = _python(EXAMPLE, "-c", tmp_path / "missing.yaml", "-o", tmp_path / "run")
    assert done.returncode == exitflow.ConfigError.exit_code
    assert done.stderr.startswith("ConfigError: ") and "missing.yaml" in done.stderr


def test_the_sim_benchmark_runs_on_the_example_run(example_run, tmp_path: Path) -> None:
    from exitflow.core.outputs import load_outputs

    run_dir, _ = example_run
    out = tmp_path / "sim.json"
    done = _python(REPO / "benchmarks" / "bench_sim.py", "--run", run_dir, "--json", out)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())["figures"]
    frames = load_outputs(exitflow.RunLayout(run_dir).reference).num_samples
    assert figures["frames"] == frames
    assert figures["exit_mismatches"] == 0 and figures["stepper_agrees"] == 1


@pytest.mark.parametrize(
    "script", ["bench_quant.py", "bench_hw.py", "bench_sim.py", "bench_demo.py"]
)
def test_each_benchmark_has_help(script: str) -> None:
    done = _python(REPO / "benchmarks" / script, "--help")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "--json" in done.stdout


def test_the_sweep_reports_what_calibrating_on_validation_gives_on_test(tmp_path: Path) -> None:
    from exitflow.core.outputs import load_outputs
    from exitflow.core.policies import apply_policy
    from exitflow.quant.calibrate import calibrate, summarise

    config = tmp_path / "tiny.yaml"
    config.write_text(
        "name: tiny\ndataset: {name: synthetic, synthetic_samples: 600}\n"
        "model: {preset: tiny}\ntrain: {epochs: 1, batch_size: 64, threads: 1}\n"
    )
    out = tmp_path / "sweep"
    done = _python(REPO / "scripts" / "sweep.py", "-c", config, "--seeds", "0", "-o", out)
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = json.loads((out / "sweep.json").read_text())["seeds"]
    cfg = exitflow.load_config(config)
    lay = exitflow.RunLayout(out / "seed0")
    val, test = load_outputs(lay.outputs_val), load_outputs(lay.outputs_test)
    for kind in ("margin", "max_logit"):
        spec, _ = calibrate(val, dataclasses.replace(cfg.policy, kind=kind))
        fig = summarise(*apply_policy(test.logits, spec), test)
        assert row[kind] == {
            "acc": round(fig["accuracy"], 4),
            "mac_fraction": round(fig["mac_fraction"], 4),
        }
    exit_acc = (test.logits.argmax(2) == test.labels[:, None]).mean(0)
    assert row["exit_acc"] == [round(float(a), 4) for a in exit_acc]
    assert "| 0 |" in done.stdout
