"""Short simulations say they are too short: report.json, report.md and the log flag the figures."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from exitflow.config import ProjectConfig
from exitflow.context import RunContext
from exitflow.core.outputs import save_outputs
from exitflow.sim.analysis import MAX_FILL_SHARE, run_length, span_cycles, throughput_fps
from exitflow.sim.config import SimConfig
from exitflow.sim.decisions import decide_frames, never_exit
from exitflow.sim.design import model_from_hwdesc
from exitflow.sim.hwdesc import load_hwdesc
from exitflow.sim.pipeline import fill_cycles
from exitflow.sim.report import NOT_MEANINGFUL
from exitflow.sim.run import simulate
from exitflow.sim.synthetic import synthetic_reference
from exitflow.step_sim import step_simulate

DATA = Path(__file__).parent / "data" / "fmnist3_hwdesc.json"
MACS = (226112, 3839104, 5645440)
FRACTIONS = (0.55, 0.2, 0.25)


def make_run(tmp_path: Path, frames: int) -> RunContext:
    (tmp_path / "build").mkdir()
    shutil.copy(DATA, tmp_path / "build" / "hwdesc.json")
    outputs, _ = synthetic_reference(400, (12, 9), FRACTIONS, exit_macs=MACS, seed=7)
    save_outputs(outputs, tmp_path / "export" / "reference.npz")
    sim = SimConfig(frames=frames, size_buffers=False)
    return RunContext(cfg=ProjectConfig(name="t", sim=sim), run_dir=tmp_path, data_root=tmp_path)


@pytest.mark.parametrize("frames", [1, 50])
def test_a_short_run_is_flagged_in_json_markdown_and_log(tmp_path, caplog, frames):
    run = make_run(tmp_path, frames)
    with caplog.at_level(logging.INFO):
        step_simulate(run)
    rep = json.loads((run.run_dir / "sim" / "report.json").read_text())
    assert rep["frames"] == frames
    assert rep["short_run"] is True and rep["short_run_reasons"]
    # the frame count is one reason whatever the fill: fewer frames than the sampling needs
    assert any(f"{frames} frames give exit fractions" in r for r in rep["short_run_reasons"])
    length = rep["run_length"]
    assert length["frames_needed"] > frames
    if frames == 1:  # one frame is all fill: its span is the fill
        assert length["fill_share"] == 1.0
        assert rep["noexit_check"]["short_run"] is True and rep["noexit_check"]["ok"] is None
    md = (run.run_dir / "sim" / "report.md").read_text()
    assert f"**Too short to mean anything: {frames} frames.**" in md
    figures = ("- throughput:", "- fraction of the bound reached:", "- exits:", "- physical bound")
    for figure in figures:
        line = next(ln for ln in md.splitlines() if ln.startswith(figure))
        assert line.endswith(NOT_MEANINGFUL), line
    warning = [r for r in caplog.records if "too short for steady-state" in r.getMessage()]
    assert warning and warning[0].levelno == logging.WARNING
    assert f"at least {length['frames_needed']} frames" in warning[0].getMessage()


def test_a_long_run_is_not_flagged(tmp_path, caplog):
    run = make_run(tmp_path, 300)
    with caplog.at_level(logging.INFO):
        step_simulate(run)
    rep = json.loads((run.run_dir / "sim" / "report.json").read_text())
    assert rep["short_run"] is False and rep["short_run_reasons"] == []
    assert rep["run_length"]["fill_share"] <= MAX_FILL_SHARE
    assert rep["noexit_check"]["short_run"] is False and rep["noexit_check"]["ok"] is True
    md = (run.run_dir / "sim" / "report.md").read_text()
    assert "Too short" not in md and NOT_MEANINGFUL not in md
    assert "too short" not in caplog.text


def test_the_criterion_keeps_its_promise_on_throughput():
    """A run the fill criterion passes is within MAX_FILL_SHARE of a much longer run's throughput.

    And a run it fails is not (on this design the fill really does bias a short run).
    """
    desc = load_hwdesc(DATA)
    model = model_from_hwdesc(desc, SimConfig())
    outputs, spec = synthetic_reference(10, (12, 9), FRACTIONS, exit_macs=MACS, seed=3)
    # every prefix of whole periods has the same exit mix: only the fill tells them apart
    pattern, _ = decide_frames(outputs.logits, spec)
    exit_index = np.tile(pattern, 300)
    fill = fill_cycles(model, exit_index)
    steady = throughput_fps(simulate(model, exit_index), model.clock_mhz)
    verdicts = {}
    for n in (10, 20, 40, 80, 160, 320):
        r = simulate(model, exit_index[:n])
        length = run_length(r, fill, sampled=False)
        error = abs(throughput_fps(r, model.clock_mhz) / steady - 1)
        verdicts[n] = length["short_run"]
        if not length["short_run"]:
            assert error <= MAX_FILL_SHARE, (n, error)
    assert verdicts[10] and not verdicts[320], verdicts  # the range straddles the threshold


def test_run_length_counts_frames_only_for_sampled_runs():
    desc = load_hwdesc(DATA)
    model = model_from_hwdesc(desc, SimConfig())
    r = simulate(model, never_exit(60, model.num_exits))
    fill = fill_cycles(model, never_exit(1, model.num_exits))
    sampled, fixed = run_length(r, fill), run_length(r, fill, sampled=False)
    assert len(sampled["reasons"]) == len(fixed["reasons"]) + 1
    assert np.isclose(sampled["fill_share"], fill / span_cycles(r))
