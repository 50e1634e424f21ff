"""The driver on a real PYNQ board (marker `board`: skipped elsewhere with the reason).

Run on the board from a checkout's tests/ with the deploy package and the run's reference
outputs copied over:
    EXITFLOW_BOARD_PACKAGE=bitstreams/Pynq-Z2/<design> EXITFLOW_BOARD_REFERENCE=reference.npz \
        python -m pytest -m board tests/test_driver_board.py
Every frame's exit, class and logits must equal reference.npz (brevitas), the AXI-Lite counters
must equal the exit histogram, and a threshold register write must move the exits exactly as
exitflow.core.policies.apply_policy predicts (here recomputed for the margin/max-logit units).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

try:  # on the board the package is copied as exitflow_driver
    from exitflow_driver import ExitflowAccelerator
except ImportError:
    from exitflow.driver import ExitflowAccelerator

pytestmark = pytest.mark.board


@pytest.fixture(scope="module")
def board():
    pkg = os.environ.get("EXITFLOW_BOARD_PACKAGE")
    ref = os.environ.get("EXITFLOW_BOARD_REFERENCE")
    if not pkg or not ref:
        pytest.skip("set EXITFLOW_BOARD_PACKAGE and EXITFLOW_BOARD_REFERENCE on the board")
    return ExitflowAccelerator(Path(pkg), "pynq"), dict(np.load(ref))


def _margin_or_max(kind: str, logits: np.ndarray, t: int) -> np.ndarray:
    top = np.sort(logits, axis=1)
    s = top[:, -1] - top[:, -2] if kind == "margin" else top[:, -1]
    return s >= t


def test_board_equals_reference(board) -> None:
    acc, ref = board
    n = min(1000, len(ref["input"]))
    acc.clear_counters()
    res = acc.infer(ref["input"][:n])
    assert np.array_equal(res.exits, ref["exit_index"][:n])
    assert np.array_equal(res.classes, ref["pred"][:n])
    if res.logits is not None:
        assert np.array_equal(res.logits, ref["logits"][np.arange(n), ref["exit_index"][:n]])
    assert acc.counters() == res.histogram and res.throughput_fps


def test_board_threshold_register(board) -> None:
    acc, ref = board
    kind = acc.manifest["policy"]["kind"]
    if acc.num_exits != 2 or kind not in ("margin", "max_logit"):
        pytest.skip("written for a 2-exit margin/max-logit design")
    n, t = min(1000, len(ref["input"])), acc.thresholds[0] + 3
    acc.set_threshold(0, t)
    res = acc.infer(ref["input"][:n])
    fire = _margin_or_max(kind, ref["logits"][:n, 0], t)
    assert np.array_equal(res.exits, np.where(fire, 0, 1))
