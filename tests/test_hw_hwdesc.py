"""The hwdesc writer (hw.hwdesc) against the reader's schema (exitflow.core.hwdesc): what the
writer produces from a design and FINN-like estimates loads, simulates and keeps its numbers; a
description the reader would refuse is refused before it is written."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exitflow.core.hwdesc import HwDescError
from exitflow.core.hwdesc_load import hwdesc_from_dict
from exitflow.core.kinds import PartitionKind
from exitflow.core.policies import PolicySpec
from exitflow.hw.flow.design import Design, PartitionSpec
from exitflow.hw.flow.estimates import NodeEstimate, PartitionEstimate, cond_buffer_specs
from exitflow.hw.flow.verify import PartitionData
from exitflow.hw.hwdesc import build_hwdesc
from exitflow.sim.design import model_from_hwdesc

NONE = PartitionData([], [])


def _est(name: str, in_beats: int, out_beats: int, cycles: int, width: int = 32):
    node = NodeEstimate(
        f"{name}_MVAU", "MVAU_rtl", cycles, cycles + 5, in_beats, out_beats, width, width,
        {"LUT": 100.0, "BRAM_18K": 1.0}, {"PE": 2, "SIMD": 4},
    )  # fmt: skip
    return PartitionEstimate(
        name, [node], cycles, cycles + 5, in_beats, width, out_beats, width,
        {"LUT": 100.0, "BRAM_18K": 1.0}, node.name,
    )  # fmt: skip


def _design(threshold: int | None) -> tuple[Design, dict[str, PartitionEstimate]]:
    spec = PolicySpec("margin", (math.inf if threshold is None else threshold,))
    parts = [
        PartitionSpec("stage0", PartitionKind.STAGE, 0, None, NONE, rate_fraction=1.0),
        PartitionSpec("head0", PartitionKind.HEAD, 0, None, NONE, "stage0", 0, 0),
        PartitionSpec(
            "decision0", PartitionKind.DECISION, 0, None, NONE, "head0", 0, 0, threshold=threshold
        ),
        PartitionSpec("stage1", PartitionKind.STAGE, 1, None, NONE, "stage0", rate_fraction=0.25),
        PartitionSpec("head1", PartitionKind.HEAD, 1, None, NONE, "stage1", 1, 1, 0.25),
        PartitionSpec("base_stage0", PartitionKind.STAGE, 0, None, NONE, baseline=True),
        PartitionSpec(
            "base_stage1", PartitionKind.STAGE, 1, None, NONE, "base_stage0", baseline=True
        ),
        PartitionSpec("base_head1", PartitionKind.HEAD, 1, None, NONE, "base_stage1", 1, 1,
                      baseline=True),
    ]  # fmt: skip
    empty = np.zeros((0,), np.int64)
    design = Design("toy", 10, [0, 1], 2, spec, [threshold], parts, empty, empty, empty, empty, {})
    ests = {
        "stage0": _est("stage0", 64, 16, 640),
        "head0": _est("head0", 16, 10, 200),
        "decision0": _est("decision0", 10, 1, 10),
        "stage1": _est("stage1", 16, 4, 900),
        "head1": _est("head1", 4, 10, 100),
    }
    ests |= {f"base_{k}": v for k, v in ests.items() if k in ("stage0", "stage1", "head1")}
    return design, ests


@pytest.mark.parametrize(("threshold", "written"), [(7, 7), (None, "inf"), (-(2**63), "-inf")])
def test_written_description_loads_and_simulates(threshold, written):
    design, ests = _design(threshold)
    cbufs = cond_buffer_specs(design.exit_after, ests, depth_frames=3)
    desc = build_hwdesc(design, ests, cbufs, {"stage0": 640}, "Pynq-Z2", 100.0, 8, "rtl")
    loaded = hwdesc_from_dict(desc, "written")
    assert loaded.to_dict() == desc  # nothing the writer wrote is lost or renamed by the reader
    dec = loaded.partition("decision0")
    assert desc["partitions"][2]["threshold"] == written and dec.policy == "margin"
    assert loaded.cond_buffers[0].depth_frames == 3
    verdict = loaded.stream_between("decision0", "cbuf0")
    assert verdict is not None and verdict.fifo_depth == 8  # max(fifo_depth 8, 3 frames)
    assert loaded.stream_between("stage0", "stage1").through == "cbuf0"
    assert [p["name"] for p in desc["baseline"]["partitions"]] == ["stage0", "stage1", "head1"]
    model = model_from_hwdesc(loaded)
    assert [s.stage_names for s in model.segments] == [("stage0",), ("stage1",)]


def test_writer_refuses_what_the_reader_would_refuse():
    design, ests = _design(7)
    ests["head0"].cycles_per_frame = 0  # an estimate FINN could not make
    cbufs = cond_buffer_specs(design.exit_after, ests, depth_frames=3)
    with pytest.raises(HwDescError, match=r"head0.*'cycles_per_frame' must be an integer >= 1"):
        build_hwdesc(design, ests, cbufs, {}, "Pynq-Z2", 100.0, 8, "rtl")
