"""`exitflow build` end to end on a small trained model and real Fashion-MNIST images.

One module-scoped run (train -> calibrate -> export -> build, a 2-stage W4A4 net, about a minute on two
cores); the tests read its artefacts, then tamper with checkpoints to show that verification by
execution catches a wrong step, and resume from a checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("finn")

from conftest import tiny_rtl_config
from qonnx.core.modelwrapper import ModelWrapper

from exitflow.config import config_from_dict
from exitflow.context import RunContext, ToolPaths
from exitflow.core.errors import ConfigError
from exitflow.hw.build import run_build
from exitflow.hw.flow import steps
from exitflow.hw.flow.builder import VerificationError, checkpoint_path
from exitflow.steps import run_step

FMNIST = Path(__file__).resolve().parents[1] / ".data" / "fashion-mnist"
SAMPLES = 300  # composed/parity check in the default test; the slow test uses 1,000


def _config(run_dir: Path, **hw) -> dict:
    """conftest's tiny design with FINN's default MVU style for the board (LUT on the Z-7020):
    this module checks the build flow itself, HLS layers and the stop before Vitis HLS included."""
    cfg = tiny_rtl_config(run_dir)
    cfg["name"] = "hwtest"
    cfg["hw"] = {
        "board": "Pynq-Z2",
        "target_fps": 20000,
        "verify_samples": SAMPLES,
        "verify_step_samples": 20,
        **hw,
    }
    return cfg


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, dict, object]:
    if not (FMNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (make data)")
    run_dir = tmp_path_factory.mktemp("hwrun")
    cfg = config_from_dict(_config(run_dir))
    ctx = RunContext(cfg, run_dir, FMNIST.parent, ToolPaths())
    for name in ("train", "calibrate", "export"):
        run_step(name, ctx)
    report = run_build(run_dir, cfg.hw, {"vivado": None, "vitis_hls": None})
    return run_dir, report, cfg


def test_build_end_to_end_matches_quant(run):
    _run_dir, report, _ = run
    par = report["parity"]
    assert par["samples"] == SAMPLES
    assert par["exit_mismatches"] == par["class_mismatches"] == par["logit_mismatches"] == 0
    # every partition was checked at every step, and on all samples at the parity point
    ver = report["verification"]
    for name in ("stage0", "head0", "decision0", "stage1", "head1", "base_stage1", "base_head1"):
        assert name in ver
        assert all(v["mismatches"] == 0 for v in ver[name].values())
    assert ver["stage0"][steps.PARITY_STEP]["samples"] == SAMPLES
    assert all(v["exact"] for k, v in ver["stage1"].items() if k != "source")


def test_build_stops_before_xilinx_steps_and_says_so(run):
    run_dir, report, _ = run
    assert "vitis_hls" in report["stopped"]
    assert report["steps_run"][-1] == "step_size_inner_fifos"  # no Xilinx step after it
    for step in report["steps_run"]:
        assert checkpoint_path(run_dir / "build", "stage1", step).is_file()
    gen = list((run_dir / "build" / "finn").glob("code_gen_ipgen_*"))
    assert gen, "codegen wrote no HLS/RTL sources"
    assert (run_dir / "build" / "partitions" / "decision0" / "codegen" / "decision0.v").is_file()


def test_hwdesc_contract(run, caplog):
    run_dir, report, _ = run
    d = json.loads((run_dir / "build" / "hwdesc.json").read_text())
    assert d["schema"] == "exitflow.hwdesc/1" and d["board"] == "Pynq-Z2"
    kinds = [p["kind"] for p in d["partitions"]]
    assert kinds == ["stage", "head", "decision", "stage", "head"]
    for p in d["partitions"]:
        assert p["cycles_per_frame"] == max(n["cycles_per_frame"] for n in p["nodes"])
        assert p["latency_cycles"] >= p["cycles_per_frame"] and p["resources"]["LUT"] > 0
    assert d["exits"][-1]["decision"] is None and d["exits"][0]["decision"] == "decision0"
    stage0 = d["partitions"][0]
    assert d["cond_buffers"][0]["frame_beats"] == stage0["out_beats"]
    assert d["finn_estimate"]["cycles_per_frame"] == max(
        [p["cycles_per_frame"] for p in d["partitions"]]
        + [c["cycles_per_frame"] for c in d["cond_buffers"]]
    )
    assert d["policy"]["kind"] == "margin" and len(d["policy"]["thresholds"]) == 1
    base = d["baseline"]
    assert [p["name"] for p in base["partitions"]] == ["stage0", "stage1", "head1"]
    from exitflow.sim.hwdesc import load_hwdesc  # the reader this file is written for

    sim_view = load_hwdesc(run_dir / "build" / "hwdesc.json")
    assert [p.name for p in sim_view.stage_order()] == ["stage0", "stage1"]
    # every stream the simulator builds is described: none falls back to a default depth
    verdict = sim_view.stream_between("decision0", "cbuf0")
    assert verdict is not None and verdict.fifo_depth >= d["cond_buffers"][0]["depth_frames"]
    from exitflow.sim.design import model_from_hwdesc

    with caplog.at_level("INFO", logger="exitflow.sim.design"):
        model_from_hwdesc(sim_view)
    assert "without a described FIFO" not in caplog.text
    assert report["baseline_folding"]["fits_budget"]
    for key in ("LUT", "DSP", "BRAM_18K"):
        assert base["resources"][key] <= report["gated"]["total"][key] + 1e-9


def test_reports_and_rates(run):
    run_dir, report, _ = run
    g = report["gated"]
    assert 0 < g["decision_lut_fraction"] < 0.5
    assert report["rate_fractions"][0] == 1.0 and len(report["rate_fractions"]) == 2
    text = (run_dir / "build" / "report.md").read_text()
    assert "## Gated design" in text and "## Single-exit baseline" in text
    # stage 0 is folded for the full rate: it meets target_fps at the board clock
    stage0 = g["partitions"][0]
    assert stage0["fps"] >= 20000 * 0.99


def test_tampered_checkpoint_is_caught_by_execution(run, tmp_path):
    """Corrupt one threshold of stage1 after streamlining; resuming must fail verification."""
    run_dir, _, cfg = run
    work = tmp_path / "copy"
    shutil.copytree(run_dir, work)
    ckpt = checkpoint_path(work / "build", "stage1", "step_streamline")
    model = ModelWrapper(str(ckpt))
    node = model.get_nodes_by_op_type("MultiThreshold")[0]
    thr = model.get_initializer(node.input[1]).copy()
    thr[:] = thr.min()  # every activation saturates
    model.set_initializer(node.input[1], thr)
    model.save(str(ckpt))
    hw = cfg.hw
    hw.start_step, hw.stop_step = "step_convert_to_hw", "step_convert_to_hw"
    try:
        with pytest.raises(VerificationError, match="stage1"):
            run_build(work, hw, {"vivado": None, "vitis_hls": None})
    finally:
        hw.start_step = hw.stop_step = None


def test_resume_from_checkpoint_gives_same_models(run, tmp_path):
    run_dir, _report, cfg = run
    work = tmp_path / "copy"
    shutil.copytree(run_dir, work)
    hw = cfg.hw
    hw.start_step, hw.stop_step = "step_set_folding", "step_minimize_bit_width"
    try:
        again = run_build(work, hw, {"vivado": None, "vitis_hls": None})
    finally:
        hw.start_step = hw.stop_step = None
    assert again["steps_run"] == ["step_set_folding", "step_minimize_bit_width"]
    assert again["parity"]["exit_mismatches"] == 0
    from exitflow.hw.flow.estimates import partition_estimate

    for name in ("stage0", "head1", "base_stage1"):
        a, b = (
            partition_estimate(
                ModelWrapper(str(checkpoint_path(d / "build", name, "step_minimize_bit_width"))),
                name,
                "xc7z020clg400-1",
            )
            for d in (run_dir, work)
        )
        assert a.cycles_per_frame == b.cycles_per_frame
        assert a.resources == b.resources
        assert [n.folding for n in a.nodes] == [n.folding for n in b.nodes]


@pytest.mark.vivado
def test_vivado_steps_build_stitched_ip(run, tmp_path):
    """With Vitis HLS and Vivado on PATH: IP generation, stitched IP and OOC synthesis."""
    run_dir, _, cfg = run
    work = tmp_path / "copy"
    shutil.copytree(run_dir, work)
    vivado, hls = shutil.which("vivado"), shutil.which("vitis_hls")
    hw = cfg.hw
    hw.start_step = "step_hw_ipgen"
    try:
        report = run_build(work, hw, {"vivado": Path(vivado), "vitis_hls": Path(hls)})
    finally:
        hw.start_step = None
    assert "stopped" not in report
    assert report["steps_run"][-1] == "step_synth_ooc"


def test_folding_override_for_a_missing_partition_is_refused_at_build(run, tmp_path):
    """A config made in code skips ProjectConfig.validate; the build itself still refuses an
    override for a partition the exported design does not have, naming the ones it has."""
    run_dir, _, cfg = run
    work = tmp_path / "copy"
    shutil.copytree(run_dir, work)
    hw = dataclasses.replace(cfg.hw, folding_overrides={"stage7": {"MVAU_0": {"PE": 2}}})
    with pytest.raises(ConfigError, match=r"stage7.*stage0"):
        run_build(work, hw, {"vivado": None, "vitis_hls": None})
