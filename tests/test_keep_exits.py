"""hw.keep_exits: a design without some non-final exits (the DSE's chosen subset) is built with
no head, decision unit, buffer or fork for them, and its exits equal quant's reference."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_rtl_config

from exitflow.config import config_from_dict
from exitflow.core.errors import ConfigError
from exitflow.core.outputs import Outputs, load_outputs
from exitflow.run import Run
from exitflow.runner import run_step


def test_keep_exits_must_name_non_final_exits() -> None:
    data = tiny_rtl_config(Path("/tmp/unused"))
    data["hw"]["keep_exits"] = [1]  # exit 1 is the tiny design's final exit
    with pytest.raises(ConfigError, match="not non-final exits"):
        config_from_dict(data)
    data["hw"]["keep_exits"] = []
    data["hw"]["folding_overrides"] = {"decision0": {"x": {"PE": 1}}}  # left out: no such unit
    with pytest.raises(ConfigError, match="decision0"):
        config_from_dict(data)


@pytest.fixture(scope="module")
def dropped(tiny_rtl_run: Path, tmp_path_factory: pytest.TempPathFactory, data_root: Path):
    """The tiny design rebuilt without exit 0 (its threshold inf), reusing the full build's
    checkpoints up to specialisation."""
    from exitflow.hw.build import run_build

    run_dir = tmp_path_factory.mktemp("keep") / "run"
    shutil.copytree(tiny_rtl_run, run_dir, ignore=shutil.ignore_patterns("build", "sim", "rtl"))
    data = tiny_rtl_config(run_dir)
    data["policy"]["thresholds"] = ["inf"]
    data["hw"]["keep_exits"] = []
    cfg = config_from_dict(data)
    run = Run(cfg, run_dir, data_root)
    run_step("calibrate", run)
    run_step("export", run)
    report = run_build(run_dir, cfg.hw, {"vivado": None, "vitis_hls": None}, None, tiny_rtl_run)
    return run, report


def test_a_left_out_exit_has_no_hardware_and_the_parity_holds(dropped) -> None:
    from exitflow.core.hwdesc_load import load_hwdesc

    run, report = dropped
    lay = run.layout
    assert report["exits"] == [1]  # the trained exit the hardware's exit 0 is
    assert report["parity"]["exit_mismatches"] == 0 and report["parity"]["class_mismatches"] == 0
    desc = load_hwdesc(lay.hwdesc)
    assert [(e.index, e.after, e.head, e.decision) for e in desc.exits] == [
        (0, "stage1", "head0", None)
    ]
    assert sorted(p.name for p in desc.partitions) == ["head0", "stage0", "stage1"]
    assert desc.cond_buffers == ()
    assert desc.policy["trained_exits"] == [1] and desc.policy["thresholds"] == []
    # head0 is the trained final head: its checkpoints came from the full build's head1
    log = json.loads(lay.build_log.read_text())
    reused = log["steps"]["step_specialize_layers"]["partitions"]
    assert reused["head0"]["reused_from"].endswith(
        "checkpoints/head1/06_step_specialize_layers.onnx"
    )
    assert "reused_from" in reused["stage0"] and "reused_from" in reused["stage1"]


def test_the_simulator_runs_the_design_and_matches_quant_on_the_kept_exits(dropped, tmp_path):
    from exitflow.core.hwdesc_load import load_hwdesc
    from exitflow.sim.decisions import spec_from_hwdesc
    from exitflow.sim.pipeline import run_simulation

    run, _ = dropped
    lay = run.layout
    ref = load_outputs(lay.reference)
    assert set(ref.exit_index.tolist()) <= {1}  # quant's model never takes the left-out exit
    kept = [1]
    view = Outputs(
        ref.logits[:, kept],
        ref.labels,
        ref.logit_scale[kept],
        ref.exit_macs[kept],
        ref.full_macs,
        exit_index=np.zeros_like(ref.exit_index),
        pred=ref.pred,
    )
    desc = load_hwdesc(lay.hwdesc)
    out = run_simulation(desc, view, spec_from_hwdesc(desc), run.cfg.sim, tmp_path / "sim")
    # every frame took the software model's exit and class (else ExitMismatchError), at the
    # hardware's only exit
    assert len(out.pred) > 0 and np.array_equal(out.pred, ref.pred[: len(out.pred)])


def _dropped_run(run: Run, **rtl: object) -> Run:
    """The dropped design's run with the simulate/cosim settings of tests/test_step_rtl.py."""
    data = tiny_rtl_config(run.run_dir)
    data["policy"]["thresholds"] = ["inf"]
    data["hw"]["keep_exits"] = []
    data["sim"] = {"size_frames": 300}  # the buffer-size search dominates simulate's time
    data["rtl"] = {"cosim": "required", **rtl}
    return Run(config_from_dict(data), run.run_dir, run.data_root)


def test_exitflow_simulate_checks_the_design_in_its_own_exit_numbering(dropped) -> None:
    """calibrate/policy.json (one threshold per trained non-final exit) and reference.npz
    (trained exit numbers) are mapped through hwdesc's policy.trained_exits: every frame takes
    quant's exit and class at the hardware's only exit."""
    run = _dropped_run(dropped[0])
    lay = run.layout
    outcome = run_step("simulate", run)
    assert outcome.ran
    rep = json.loads(lay.sim_report.read_text())
    ref = load_outputs(lay.reference)
    assert rep["exit_mismatches"] == 0 and rep["frames"] == ref.num_samples
    frames = np.load(lay.sim_dir / "frames.npz")
    assert set(np.unique(frames["exit_index"]).tolist()) == {0}  # hardware exit 0 = trained 1
    assert np.array_equal(frames["pred"], ref.pred)
    assert rep["policy"]["thresholds"] == []


@pytest.mark.slow
def test_the_cosim_step_compares_the_top_with_quant_on_the_kept_exit(dropped) -> None:
    """The generated top of the design without exit 0 against reference.npz mapped to its
    numbering: exit, class and logits of every frame (passed: see docs/hw.md)."""
    run = _dropped_run(dropped[0], frames=40)
    lay = run.layout
    if not lay.sim_report.is_file():
        run_step("simulate", run)
    run_step("cosim", run)
    rep = json.loads(lay.rtl_report.read_text())
    assert rep["frames"] == 40 and rep["skipped"] is False
    assert rep["exit_mismatches"] == rep["class_mismatches"] == rep["logit_mismatches"] == 0
    assert rep["reference"]["logits_checked"]
    frames = np.load(lay.rtl_frames)
    ref = load_outputs(lay.reference)
    assert frames["exit_index"].tolist() == [0] * 40
    assert np.array_equal(frames["pred"], ref.pred[:40])
    assert np.array_equal(frames["logits"], ref.logits[:40, 1])  # the trained final head's
