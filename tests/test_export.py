"""train -> calibrate -> export on the tiny model: manifest, reference, bit-exact QONNX parity."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from qonnx.core.modelwrapper import ModelWrapper

from exitflow.config import config_from_dict
from exitflow.context import RunContext, StepUnavailable
from exitflow.core.outputs import load_outputs
from exitflow.core.policies import apply_policy, load_policy
from exitflow.quant.checkpoint import load_model
from exitflow.quant.export import SCHEMA
from exitflow.quant.parity import ParityError, check_full_model, check_qonnx_parity
from exitflow.step_eval import step_calibrate
from exitflow.step_quant import step_export, step_train


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> RunContext:
    """One trained, calibrated and exported tiny design shared by every test here."""
    cfg = config_from_dict(
        {
            "name": "tiny_export",
            "dataset": {"name": "synthetic", "synthetic_samples": 800},
            "model": {"preset": "tiny"},
            "train": {"epochs": 3, "batch_size": 64, "lr": 5e-3, "threads": 1},
            "policy": {"kind": "margin", "max_accuracy_drop": 0.02},
            "hw": {"verify_samples": 200},
        }
    )
    run_dir = tmp_path_factory.mktemp("run")
    ctx = RunContext(cfg=cfg, run_dir=run_dir, data_root=Path(".data"))
    step_train(ctx)
    step_calibrate(ctx)
    step_export(ctx)
    return ctx


def _manifest(ctx: RunContext) -> dict:
    return json.loads((ctx.run_dir / "export" / "manifest.json").read_text())


def test_manifest_lists_every_partition_with_integer_ports(exported: RunContext) -> None:
    m = _manifest(exported)
    assert m["schema"] == SCHEMA
    assert [p["name"] for p in m["partitions"]] == ["stage0", "stage1", "head0", "head1"]
    assert m["input"] == {"name": "inp", "shape": [1, 1, 16, 16], "datatype": "UINT8",
                          "scale": 2**-8}  # fmt: skip
    by_name = {p["name"]: p for p in m["partitions"]}
    assert by_name["stage1"]["reads"] == "stage0"
    assert by_name["stage1"]["input"]["shape"] == [1, 8, 8, 8]
    assert by_name["stage1"]["input"]["datatype"] == "UINT4"
    assert by_name["stage1"]["output"]["shape"] == [1, 16, 4, 4]
    assert by_name["head0"]["reads"] == "stage0" and by_name["head0"]["exit"] == 0
    assert by_name["head1"]["output"]["shape"] == [1, 4]
    assert by_name["head1"]["output"]["datatype"].startswith("INT")
    # a stage's output scale is the next partition's input scale
    assert by_name["stage0"]["output"]["scale"] == by_name["stage1"]["input"]["scale"]
    assert by_name["stage0"]["macs"] == 16 * 16 * 8 * 9
    assert [e["after_stage"] for e in m["exits"]] == [0, 1]
    assert m["exit_macs"][-1] == sum(p["macs"] for p in m["partitions"])
    for part in [*m["partitions"], m["full"]]:
        model = ModelWrapper(str(exported.run_dir / "export" / part["file"]))
        inp = model.graph.input[0].name
        assert inp == "inp"
        assert model.get_tensor_datatype(inp).name == part["input"]["datatype"]
        assert list(model.get_tensor_shape(inp)) == part["input"]["shape"]


def test_full_model_has_one_integer_output_per_exit(exported: RunContext) -> None:
    full = ModelWrapper(str(exported.run_dir / "export" / "full.onnx"))
    assert [o.name for o in full.graph.output] == ["logits0", "logits1"]
    ops = {n.op_type for n in full.graph.node}
    assert "Quant" in ops and "BatchNormalization" not in ops


def test_reference_holds_policy_decisions_and_boundaries(exported: RunContext) -> None:
    export_dir = exported.run_dir / "export"
    ref = load_outputs(export_dir / "reference.npz")
    test = load_outputs(exported.run_dir / "eval" / "outputs_test.npz")
    assert np.array_equal(ref.logits, test.logits)
    spec = load_policy(exported.run_dir / "calibrate" / "policy.json")
    exit_index, pred = apply_policy(ref.logits, spec)
    assert np.array_equal(ref.exit_index, exit_index) and np.array_equal(ref.pred, pred)
    with np.load(export_dir / "reference.npz") as data:
        assert data["stage0_out"].shape == (len(ref.labels), 8, 8, 8)
        assert data["stage1_out"].dtype == np.uint8 and data["stage1_out"].max() <= 15
        assert data["input"].shape == (len(ref.labels), 1, 16, 16)


def test_exported_models_are_bit_exact(exported: RunContext) -> None:
    parity = json.loads((exported.run_dir / "export" / "parity.json").read_text())
    assert parity["ok"] and parity["samples"] == 160
    report = check_qonnx_parity(exported.run_dir, n=50)
    assert report.ok and set(report.mismatches) == {"stage0", "stage1", "head0", "head1", "full"}


def test_full_model_parity_over_a_whole_split(exported: RunContext) -> None:
    test = load_outputs(exported.run_dir / "eval" / "outputs_test.npz")
    with np.load(exported.run_dir / "export" / "reference.npz") as data:
        images = data["input"]
    logits = test.logits[: len(images)].copy()
    assert check_full_model(exported.run_dir, images, logits).ok
    logits[7, 0, 1] += 1
    logits[9, 1, 0] -= 1
    report = check_full_model(exported.run_dir, images, logits)
    assert report.mismatches == {"full": 2} and report.samples == len(images)
    with pytest.raises(ValueError, match="rows of logits"):
        check_full_model(exported.run_dir, images, logits[:-1])


def test_parity_check_catches_a_wrong_reference(exported: RunContext, tmp_path: Path) -> None:
    shutil.copytree(exported.run_dir / "export", tmp_path / "export")
    path = tmp_path / "export" / "reference.npz"
    with np.load(path) as data:
        arrays = dict(data)
    arrays["logits"][3, 1, 2] += 1
    arrays["stage0_out"][5, 0, 0, 0] ^= 1
    np.savez(path, **arrays)
    with pytest.raises(ParityError):
        check_qonnx_parity(tmp_path, n=20)
    report = check_qonnx_parity(tmp_path, n=20, strict=False)
    # stage1 and head0 read the altered stage0_out: whether one flipped bit changes their
    # outputs depends on the weights, so only the directly altered references are pinned.
    assert (report.mismatches["stage0"], report.mismatches["head1"]) == (1, 1)
    assert report.mismatches["full"] == 1 and not report.ok


def test_steps_skip_when_outputs_exist(exported: RunContext) -> None:
    files = [
        exported.run_dir / "export" / "manifest.json",
        exported.run_dir / "train" / "best.pt",
        exported.run_dir / "eval" / "outputs_test.npz",
    ]
    before = [f.stat().st_mtime_ns for f in files]
    step_train(exported)
    step_export(exported)
    assert [f.stat().st_mtime_ns for f in files] == before


def test_export_needs_a_policy(exported: RunContext, tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    shutil.copy(exported.run_dir / "train" / "best.pt", tmp_path / "train" / "best.pt")
    ctx = RunContext(cfg=exported.cfg, run_dir=tmp_path, data_root=exported.data_root)
    with pytest.raises(StepUnavailable, match="calibrate"):
        step_export(ctx)
    assert load_model(tmp_path / "train" / "best.pt").num_exits == 2
