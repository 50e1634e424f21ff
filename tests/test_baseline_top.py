"""The single-exit baseline as one generated top (exitflow.hw.top.baseline_top).

On the shared tiny run (tests/conftest.py): the plan covers the build's own `base_*` partitions
with one final exit; the generated top (slow: a Verilator build of about 1.5 min) gives every
frame the final head's logits and their argmax as quant/'s reference computes them
(export/reference.npz, brevitas: an independent implementation), in the gated top's record format.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("finn")

import itertools

from exitflow.core.errors import VerificationError
from exitflow.hw.top import check_against_reference, cosim
from exitflow.hw.top.baseline_top import baseline_reference, generate_baseline_top, plan_baseline


def test_plan_is_one_final_exit_over_the_baseline_partitions(tiny_rtl_run: Path) -> None:
    build = tiny_rtl_run / "build"
    desc = json.loads((build / "hwdesc.json").read_text())
    want = [f"base_{p['name']}" for p in desc["baseline"]["partitions"]]
    plan = plan_baseline(build)
    assert list(plan.parts) == want
    (ex,) = plan.exits
    assert ex.decision is None and ex.head == want[-1] and ex.stages == want[:-1]
    assert plan.parts[ex.head].out.per_word * plan.parts[ex.head].out.beats == 10
    assert set(plan.fifo_depths) == {f"{a}->{b}" for a, b in itertools.pairwise(want)}


def test_baseline_reference_is_the_final_exit() -> None:
    logits = np.array([[[5, 1], [0, 3]], [[2, 2], [7, 7]]])  # 2 frames, 2 exits, 2 classes
    ref = baseline_reference({"logits": logits, "exit_index": np.array([0, 1]),
                              "pred": np.array([0, 0])})  # fmt: skip
    assert ref["exit_index"].tolist() == [0, 0]
    assert ref["pred"].tolist() == [1, 0]  # a tie goes to the lower class
    assert ref["logits"][:, 0].tolist() == [[0, 3], [7, 7]]


@pytest.mark.slow
def test_baseline_top_gives_the_final_heads_class_and_logits(
    tiny_rtl_run: Path, tmp_path: Path
) -> None:
    design = generate_baseline_top(tiny_rtl_run, out_dir=tmp_path / "base")
    assert design.record.exit_bits == 1 and design.record.logits
    ref = baseline_reference(tiny_rtl_run / "export" / "reference.npz")
    res = cosim(design, ref, frames=20, backpressure=0.3, seed=1)
    summary = check_against_reference(design, res, ref)
    assert summary["exit_histogram"] == [20] == res.counters
    # the check can fail: the gated reference (exit 0 for some frames) is not the baseline's
    gated = dict(np.load(tiny_rtl_run / "export" / "reference.npz"))
    if (gated["exit_index"][:20] != gated["exit_index"].max()).any():
        with pytest.raises(VerificationError):
            check_against_reference(design, res, gated)
