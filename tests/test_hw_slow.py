"""Real-data parity at full size (run with -m slow, several minutes): the fmnist3 preset, briefly
trained, built for Pynq-Z2; every partition on 1,000 test images at the parity point and the
composed design on 1,000 images must equal quant/ exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("finn")

from exitflow.config import config_from_dict
from exitflow.context import RunContext, ToolPaths
from exitflow.hw.build import run_build
from exitflow.hw.flow import steps
from exitflow.steps import run_step

FMNIST = Path(__file__).resolve().parents[1] / ".data" / "fashion-mnist"


@pytest.mark.slow
def test_fmnist3_parity_on_1000_images(tmp_path):
    if not (FMNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (make data)")
    cfg = config_from_dict(
        {
            "name": "hwslow",
            "output_dir": str(tmp_path),
            "dataset": {"name": "fashion_mnist", "limit_train": 8000},
            "model": {"preset": "fmnist3"},
            "train": {"epochs": 1, "threads": 1},
            "policy": {"kind": "margin", "max_accuracy_drop": 0.005},
            "hw": {"board": "Pynq-Z2", "verify_samples": 1000},
        }
    )
    ctx = RunContext(cfg, tmp_path, FMNIST.parent, ToolPaths())
    for name in ("train", "calibrate", "export"):
        run_step(name, ctx)
    report = run_build(tmp_path, cfg.hw, {"vivado": None, "vitis_hls": None})
    par = report["parity"]
    assert par["samples"] == 1000
    assert par["exit_mismatches"] == par["class_mismatches"] == par["logit_mismatches"] == 0
    for name, checks in report["verification"].items():
        if name.startswith("base_"):
            continue
        assert checks[steps.PARITY_STEP]["samples"] == 1000, name
        assert all(c["mismatches"] == 0 for c in checks.values()), name
