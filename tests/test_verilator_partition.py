"""A real exitflow partition in FINN's RTL under Verilator, word for word against python mode.

Stage 0 of a trained 2-stage Fashion-MNIST design (tests/data/rtl/stage0_partition.onnx: the
graph hw.steps leaves after step_create_dataflow_partition) is specialised to FINN's RTL layers
plus exitflow's Pool_rtl (max-pool, which FINN has in HLS only), stitched, and fed real test
images under random back-pressure. A layer without RTL is named, never skipped silently.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("finn")

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from exitflow.core.errors import PrerequisiteError, VerificationError
from exitflow.hw.flow import verify
from exitflow.hw.tools.partition_sim import check_partition, specialise_for_rtl

DATA = Path(__file__).resolve().parent / "data" / "rtl"
IMAGES = (
    Path(__file__).resolve().parents[1] / ".data" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
)
SAMPLES = 4


@pytest.fixture(scope="module")
def stage0(tmp_path_factory: pytest.TempPathFactory):
    if not IMAGES.is_file():
        pytest.skip("Fashion-MNIST not installed (make data)")
    with gzip.open(IMAGES) as f:
        raw = f.read()
    images = np.frombuffer(raw, np.uint8, offset=16)[: SAMPLES * 784].reshape(SAMPLES, 1, 28, 28)
    work = tmp_path_factory.mktemp("rtl_stage0")
    model = specialise_for_rtl(
        ModelWrapper(str(DATA / "stage0_partition.onnx")), "stage0", "xc7z020clg400-1", 10.0, work
    )
    x = verify.to_model_layout(model, model.graph.input[0].name, images.astype(np.int64))
    return model, x, work


def test_stage0_rtl_matches_python_mode_on_real_images(stage0) -> None:
    model, x, work = stage0
    result = check_partition(model, "stage0", [x], work, backpressure=0.3, seed=1)
    assert result.mismatches == 0
    assert {"MVAU_rtl_0", "Thresholding_rtl_0", "FMPadding_rtl_0", "Pool_rtl_0"} <= set(
        result.covered
    )
    assert result.not_covered == []
    out = model.graph.output[0].name
    assert result.elements == SAMPLES * int(np.prod(model.get_tensor_shape(out)[1:]))
    # no layer can beat FINN's analytical cycles per frame (the slowest layer bounds the rest)
    slowest = max(getCustomOp(n).get_exp_cycles() for n in model.graph.node)
    assert result.cycles_per_frame >= slowest


def test_uncovered_layer_is_named_or_cut_before(stage0) -> None:
    model, x, work = stage0
    # the same partition with its max-pool left as FINN's HLS layer (no RTL to simulate)
    hls = ModelWrapper(model.model.SerializeToString())
    pool = hls.get_nodes_by_op_type("Pool_rtl")[0]
    pool.op_type, pool.domain = "Pool_hls", "finn.custom_op.fpgadataflow.hls"
    with pytest.raises(PrerequisiteError, match=r"Pool_rtl_0 \(Pool_hls\)"):
        check_partition(hls, "stage0", [x], work)
    cut = check_partition(hls, "stage0", [x], work, allow_cut=True, backpressure=0.0)
    assert cut.mismatches == 0 and cut.not_covered == ["Pool_rtl_0 (Pool_hls)"]
    assert cut.elements == SAMPLES * int(np.prod(hls.get_tensor_shape(pool.input[0])[1:]))


def test_wrong_weights_in_the_reference_are_caught(stage0) -> None:
    model, x, work = stage0
    # the RTL keeps the weights its HDL was generated with; python mode gets one weight changed
    tampered = ModelWrapper(model.model.SerializeToString())
    mvau = tampered.get_nodes_by_op_type("MVAU_rtl")[0]
    w = tampered.get_initializer(mvau.input[1]).copy()
    w.flat[0] = -w.flat[0] if w.flat[0] != 0 else 1
    tampered.set_initializer(mvau.input[1], w)
    with pytest.raises(VerificationError, match="differ"):
        check_partition(tampered, "stage0", [x], work, backpressure=0.0)
