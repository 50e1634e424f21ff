"""The whole gated accelerator as one generated RTL top, co-simulated against quant/'s reference.

One session-scoped run (the tiny 2-stage Fashion-MNIST design of test_hw_flow, built with
hw.mvau_style: dsp so that every partition is RTL), one generated top and one Verilator build
(cached). Every frame's exit, class and logits from the RTL top must equal export/reference.npz
(brevitas, an independent implementation); a wrong threshold written over AXI-Lite must fail
naming the frame and exit 0's decision unit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("finn")

from qonnx.core.modelwrapper import ModelWrapper

from exitflow.core.errors import PrerequisiteError, VerificationError
from exitflow.core.hwdesc_load import load_hwdesc
from exitflow.hw.ops import axilite
from exitflow.hw.top import check_against_reference, cosim, generate_top
from exitflow.hw.top.cosim import build_top_model
from exitflow.hw.top.plan import choose_depths, plan_top

FRAMES = 100


@pytest.fixture(scope="session")
def top(tiny_rtl_run: Path):
    """The shared tiny run (tests/conftest.py), its generated top and Verilator model."""
    run_dir = tiny_rtl_run
    design = generate_top(run_dir)
    model = build_top_model(design)
    return run_dir, design, model, run_dir / "export" / "reference.npz"


def test_whole_top_matches_quant_reference_under_backpressure(top) -> None:
    run_dir, design, model, ref = top
    res = cosim(design, ref, frames=FRAMES, backpressure=0.3, seed=3, model=model)
    summary = check_against_reference(design, res, ref)
    want = np.load(ref)["exit_index"][:FRAMES]
    assert summary["frames"] == FRAMES
    assert res.counters == np.bincount(want, minlength=2).tolist() == summary["exit_histogram"]
    assert 0 < res.counters[0] < FRAMES, "both exits must be exercised"
    assert res.frames_in == FRAMES and res.registers[axilite.EXITS] == 2
    assert res.registers[axilite.threshold_addr(0)] == design.thresholds[0] & 0xFFFFFFFF
    assert all(r.logits is not None and r.result_cycle > r.entry_cycle for r in res.records)
    # exited frames overtake later ones: the output is not in frame order
    assert res.output_order != sorted(res.output_order)
    hw = json.loads((run_dir / "build" / "rtl" / "design.json").read_text())
    assert hw["depth_source"] == "hwdesc" and hw["exits"][1]["decision"] is None


def test_wrong_threshold_register_is_caught_naming_frame_and_block(top) -> None:
    _, design, model, ref = top
    never = 1 << 20  # above every margin: exit 0 never fires
    res = cosim(design, ref, frames=30, backpressure=0.2, seed=5, model=model,
                reg_writes=[(axilite.threshold_addr(0), never)])  # fmt: skip
    assert res.registers[axilite.threshold_addr(0)] == never
    assert res.counters == [0, 30]
    with pytest.raises(VerificationError, match=r"frame \d+ .*exit 0's decision unit \(decision0"):
        check_against_reference(design, res, ref)


def test_periodic_arrival_enters_on_schedule(top) -> None:
    _, design, model, ref = top
    period = 9000
    res = cosim(design, ref, frames=12, arrival="periodic", period=period, model=model,
                backpressure=0.5, seed=7)  # fmt: skip
    check_against_reference(design, res, ref)
    entry = np.array([r.entry_cycle for r in res.records])
    assert (entry >= np.arange(12) * period).all()


def test_hls_mvau_is_named_with_the_config_key_that_fixes_it(top, tmp_path) -> None:
    run_dir, *_ = top
    build = tmp_path / "build"
    shutil.copytree(run_dir / "build" / "checkpoints", build / "checkpoints")
    shutil.copy(run_dir / "build" / "hwdesc.json", build / "hwdesc.json")
    ckpt = sorted((build / "checkpoints" / "stage1").glob("*step_hw_codegen.onnx"))[0]
    model = ModelWrapper(str(ckpt))
    node = model.get_nodes_by_op_type("MVAU_rtl")[0]
    node.op_type, node.domain = "MVAU_hls", "finn.custom_op.fpgadataflow.hls"
    model.save(str(ckpt))
    with pytest.raises(
        PrerequisiteError, match=r"stage1: .*MVAU_rtl_0 \(MVAU_hls\).*hw.mvau_style: dsp"
    ):
        plan_top(build)


def test_depths_come_from_the_simulator_sizing_when_present(top, tmp_path) -> None:
    run_dir, *_ = top
    desc = load_hwdesc(run_dir / "build" / "hwdesc.json")
    fifo, frames, src = choose_depths(desc, None)
    assert src == "hwdesc" and fifo["stage0->head0"] == 32 and frames["cbuf0"] >= 1
    report = tmp_path / "report.json"
    sizing = {"fifo_beats": {"stage0->head0": 3, "stage1->head1": 77},
              "cond_buffer_frames": {"cbuf0": 5}}  # fmt: skip
    worst = {"fifo_beats": {"stage0->head0": 9}, "cond_buffer_frames": {"cbuf0": 2}}
    report.write_text(json.dumps({"sizing": {"exit_sequence": sizing, "worst_case": worst}}))
    fifo, frames, src = choose_depths(desc, report)
    assert src.startswith("sim/report.json")
    assert fifo["stage0->head0"] == 9 and fifo["stage1->head1"] == 77 and frames["cbuf0"] == 5
