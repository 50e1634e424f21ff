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
