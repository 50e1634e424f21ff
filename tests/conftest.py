"""Shared pytest set-up: tests needing a tool this machine lacks are skipped with the reason."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO / ".data"


def _has_gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons = {
        "vivado": None
        if shutil.which("vivado") and shutil.which("vitis_hls")
        else "Vivado/Vitis HLS not on PATH",
        "board": "no PYNQ board attached (run on the board image)",
        "gpu": None if _has_gpu() else "no CUDA GPU",
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
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


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The dataset directory `make data` fills."""
    return DATA_ROOT


def tiny_rtl_config(run_dir: Path) -> dict:
    """The tiny 2-stage Fashion-MNIST design, built all-RTL (hw.mvau_style: dsp)."""
    return {
        "name": "toptest",
        "output_dir": str(run_dir),
        "dataset": {"name": "fashion_mnist", "limit_train": 6000, "limit_test": 1000},
        "model": {
            "preset": None,
            "stages": [{"channels": [8]}, {"channels": [16]}],
            "exits": [{"after_stage": 0, "pool_to": 2}, {"after_stage": 1, "pool_to": 1}],
        },
        "train": {"epochs": 2, "batch_size": 64, "threads": 1, "lr": 0.005},
        "policy": {"kind": "margin", "max_accuracy_drop": 0.02},
        "hw": {
            "board": "Pynq-Z2",
            "target_fps": 20000,
            "verify_samples": 100,
            "verify_step_samples": 10,
            "mvau_style": "dsp",  # FINN's RTL MVU: the whole design is RTL
        },
    }


@pytest.fixture(scope="session")
def tiny_rtl_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One session-wide run of the tiny design through train, calibrate, export and build (no
    sim/ or rtl/ yet). Shared by the RTL tests: copy it before writing into it."""
    pytest.importorskip("finn")
    if not (DATA_ROOT / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (make data)")
    from exitflow.config import config_from_dict
    from exitflow.hw.build import run_build
    from exitflow.run import Run
    from exitflow.runner import run_step

    run_dir = tmp_path_factory.mktemp("tiny_rtl") / "run"
    cfg = config_from_dict(tiny_rtl_config(run_dir))
    run = Run(cfg, run_dir, DATA_ROOT)
    for name in ("train", "calibrate", "export"):
        run_step(name, run)
    run_build(run_dir, cfg.hw, {"vivado": None, "vitis_hls": None})
    return run_dir
