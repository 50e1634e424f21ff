"""hw.inner_fifos: FIFOs between a partition's layers, sized in Verilator (hw.flow.inner_fifos).

On the tiny design's stage1 (FMPadding -> SWG -> DWC -> MVU -> thresholds -> SWG -> max-pool)
the layers, coupled by bare handshakes, stall each other: 34,992 cycles per frame where the
slowest layer (the MVU) takes 25,088 by FINN's estimate and in RTL alone. Sized inner FIFOs must
bring the partition to its slowest layer's cycles, and change no output word.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("finn")


def test_sized_inner_fifos_reach_the_slowest_layer(tiny_rtl_run: Path, tmp_path: Path) -> None:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from exitflow.hw.flow import finn_compat, steps
    from exitflow.hw.flow.builder import checkpoint_path, rtl_checkpoint
    from exitflow.hw.flow.inner_fifos import SIZING_KEY, run_partition
    from exitflow.hw.tools.partition_sim import check_partition

    build = tiny_rtl_run / "build"
    # the default (none) build's sizing checkpoint is codegen's model, and the top reads it
    assert rtl_checkpoint(build, "stage1") == checkpoint_path(
        build, "stage1", "step_size_inner_fifos"
    )
    model = ModelWrapper(str(checkpoint_path(build, "stage1", "step_hw_codegen")))
    finn_compat.init_finn(tmp_path / "finn")
    cfg = steps.PartitionCfg("stage1", "stage", "xc7z020clg400-1", 10.0, work_dir=tmp_path)
    assert steps.step_size_inner_fifos(model, cfg) is model  # hw.inner_fifos: none

    sized = steps.step_size_inner_fifos(model, replace(cfg, inner_fifos="sized"))
    fifos = [n for n in sized.graph.node if n.op_type == "StreamingFIFO_rtl"]
    assert fifos and sized.get_metadata_prop(SIZING_KEY)
    slowest = max(getCustomOp(n).get_exp_cycles() for n in model.graph.node)
    before, _ = run_partition(model, tmp_path / "unsized")
    after, _ = run_partition(sized, tmp_path / "sized")
    assert before.cycles_per_frame > 1.2 * slowest  # the stall this option exists for
    assert after.cycles_per_frame <= 1.03 * slowest

    # every output word as FINN's python mode, under random output back-pressure
    dt = model.get_tensor_datatype(model.graph.input[0].name)
    shape = model.get_tensor_shape(model.graph.input[0].name)
    rng = np.random.default_rng(0)
    x = rng.integers(int(dt.min()), int(dt.max()) + 1, size=(3, *shape[1:])).astype(np.float32)
    check = check_partition(sized, "stage1", [x], tmp_path / "check")
    assert check.mismatches == 0 and check.samples == 3
