"""The driver on a real built design: the verilator backend (the generated RTL top, a virtual
board) and the sim backend (the cycle simulator) must return per-frame exits, classes and logits
identical to quant/'s reference (export/reference.npz, computed by brevitas), and a threshold
written through the driver's registers must change the exits exactly as
exitflow.core.policies.apply_policy predicts for the new integer threshold.

One session-scoped run: the tiny 2-stage Fashion-MNIST design of test_top (all-RTL with
hw.mvau_style: dsp), its generated top and one Verilator build (cached by source hash).
The benchmark (benchmarks/bench_deploy.py) does 1,000 RTL and 10,000 sim frames.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("finn")

from exitflow.config import config_from_dict
from exitflow.context import RunContext, ToolPaths
from exitflow.core.policies import PolicySpec, apply_policy, threshold_for
from exitflow.driver import (
    DeviceError,
    ExitflowAccelerator,
    ManifestError,
    manifest_from_run,
    write_manifest,
)
from exitflow.driver.cli import main as driver_main
from exitflow.hw.build import run_build
from exitflow.hw.top import generate_top
from exitflow.quant.data import load_splits
from exitflow.steps import run_step

FMNIST = Path(__file__).resolve().parents[1] / ".data" / "fashion-mnist"
RTL_FRAMES = 1000  # issue #11: at least 1,000 real test images through the RTL in CI


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory):
    if not (FMNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (make data)")
    run_dir = tmp_path_factory.mktemp("driverrun")
    cfg = config_from_dict({
        "name": "drvtest",
        "output_dir": str(run_dir),
        # the whole 10,000-image test set: the sim backend checks every one (issue #11)
        "dataset": {"name": "fashion_mnist", "limit_train": 6000},
        "model": {"preset": None, "stages": [{"channels": [8]}, {"channels": [16]}],
                  "exits": [{"after_stage": 0, "pool_to": 2}, {"after_stage": 1, "pool_to": 1}]},
        "train": {"epochs": 2, "batch_size": 64, "threads": 1, "lr": 0.005},
        "policy": {"kind": "margin", "max_accuracy_drop": 0.02},
        "hw": {"board": "Pynq-Z2", "target_fps": 20000, "verify_samples": 100,
               "verify_step_samples": 10, "mvau_style": "dsp"},
    })  # fmt: skip
    ctx = RunContext(cfg, run_dir, FMNIST.parent, ToolPaths())
    for name in ("train", "calibrate", "export"):
        run_step(name, ctx)
    run_build(run_dir, cfg.hw, {"vivado": None, "vitis_hls": None})
    design = generate_top(run_dir)
    ref = dict(np.load(run_dir / "export" / "reference.npz"))
    # reference.npz stores the first images only; the rest of the test set comes from the data
    ref["all_images"] = load_splits(cfg.dataset, FMNIST.parent).test.images
    return run_dir, design, ref


def _expected(ref: dict, n: int, kind: str, t_int: int) -> tuple[np.ndarray, np.ndarray]:
    spec = PolicySpec(kind, (threshold_for(kind, t_int),))
    return apply_policy(ref["logits"][:n], spec)


def _check(res, ref: dict, n: int) -> None:
    want_exit, want_cls = ref["exit_index"][:n], ref["pred"][:n]
    bad = np.flatnonzero((res.exits != want_exit) | (res.classes != want_cls))
    assert not len(bad), f"frames {bad[:10].tolist()} differ from reference.npz"
    assert np.array_equal(res.logits, ref["logits"][np.arange(n), want_exit])


def test_verilator_backend_equals_reference(built) -> None:
    run_dir, design, ref = built
    acc = ExitflowAccelerator(run_dir, "verilator", design=design, backpressure=0.3, seed=11)
    assert acc.thresholds == design.thresholds
    res = acc.infer(ref["input"][:RTL_FRAMES])
    _check(res, ref, RTL_FRAMES)
    hist = np.bincount(ref["exit_index"][:RTL_FRAMES], minlength=2).tolist()
    assert res.histogram == hist == acc.counters() and 0 < hist[0] < RTL_FRAMES
    assert acc.frames_in() == RTL_FRAMES
    # exits overtake later frames: records did not arrive in frame order
    assert res.arrival_order.tolist() != sorted(res.arrival_order.tolist())
    assert res.throughput_fps and res.throughput_fps > 0 and res.device_cycles
    acc.clear_counters()
    assert acc.counters() == [0, 0]


@pytest.mark.parametrize("backend", ["verilator", "sim"])
def test_threshold_register_changes_exits_as_quant_predicts(built, backend: str) -> None:
    run_dir, design, ref = built
    opts = {"design": design, "backpressure": 0.2} if backend == "verilator" else {}
    acc = ExitflowAccelerator(run_dir, backend, **opts)
    kind = acc.manifest["policy"]["kind"]
    n = 120 if backend == "verilator" else len(ref["input"])
    old = acc.thresholds[0]
    histograms = []
    for t in (old - 3, old + 4):
        acc.set_threshold(0, t)
        assert acc.thresholds == [t]
        acc.clear_counters()
        res = acc.infer(ref["input"][:n])
        want_exit, want_cls = _expected(ref, n, kind, t)
        bad = np.flatnonzero((res.exits != want_exit) | (res.classes != want_cls))
        assert not len(bad), f"threshold {t}: frames {bad[:10].tolist()} differ from apply_policy"
        assert acc.counters() == res.histogram
        histograms.append(res.histogram)
    assert histograms[0][0] > histograms[1][0], "a lower margin threshold must exit more frames"


def test_sim_backend_equals_reference_on_every_image(built) -> None:
    run_dir, _, ref = built
    images = ref["all_images"]
    n = len(images)
    assert n == len(ref["logits"]) == 10_000
    acc = ExitflowAccelerator(run_dir, "sim", test_images=images)
    res = acc.infer(images)
    _check(res, ref, n)
    assert acc.counters() == res.histogram and acc.frames_in() == n
    assert res.throughput_fps and res.arrival_order.tolist() != list(range(n))
    # frames beyond reference.npz's stored images come from the run's test set, checked first
    with pytest.raises(DeviceError, match="not the test set"):
        ExitflowAccelerator(run_dir, "sim", test_images=ref["input"][::-1])
    stored = ExitflowAccelerator(run_dir, "sim")  # no test_images: the stored images only
    _check(stored.infer(ref["input"][:50]), ref, 50)


def test_package_reference_and_rebuilt_run_refused(built, tmp_path: Path) -> None:
    run_dir, design, ref = built
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    m = manifest_from_run(run_dir, board="Pynq-Z2")
    write_manifest(pkg, m)
    acc = ExitflowAccelerator(pkg, "sim")  # finds the run through source.run_dir
    _check(acc.infer(ref["input"][:50]), ref, 50)
    bad = copy.deepcopy(m)
    bad["hashes"]["rtl"] = "0" * 64
    write_manifest(pkg, bad)
    with pytest.raises(ManifestError, match="not the RTL the manifest was written for"):
        ExitflowAccelerator(pkg, "verilator", design=design)
    bad["hashes"]["hwdesc"] = "0" * 64
    write_manifest(pkg, bad)
    with pytest.raises(ManifestError, match="not the design the manifest was written for"):
        ExitflowAccelerator(pkg, "sim")


def test_cli_runs_a_package_on_an_npz(built, tmp_path: Path, capsys, restore_logging) -> None:
    run_dir, _, ref = built
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    write_manifest(pkg, manifest_from_run(run_dir))
    np.savez(tmp_path / "imgs.npz", input=ref["input"][:300], labels=ref["labels"][:300])
    out = tmp_path / "summary.json"
    rc = driver_main(["run", str(pkg), str(tmp_path / "imgs.npz"), "--backend", "sim",
                      "--threshold", "0=2", "--json", str(out), "--out", str(tmp_path / "r.csv")])  # fmt: skip
    assert rc == 0
    s = json.loads(out.read_text())
    want_exit, want_cls = _expected(ref, 300, "margin", 2)
    assert s["thresholds"] == [2] and s["exit_histogram"] == np.bincount(want_exit).tolist()
    assert s["accuracy"] == pytest.approx(float(np.mean(want_cls == ref["labels"][:300])))
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert len(rows) == 301 and rows[1].split(",")[2:4] == [str(want_exit[0]), str(want_cls[0])]
    assert "steady-state throughput" in capsys.readouterr().out
