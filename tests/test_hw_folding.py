"""User-triggerable FINN errors are caught early with a message naming the layer and the fix;
boards, rates and graph rewrites on small synthetic graphs (no training, seconds)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("finn")

from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.basic import qonnx_make_model

from exitflow.hw.boards import BOARDS, board_spec
from exitflow.hw.config import Board
from exitflow.hw.flow import finn_compat, folding, steps, transforms, verify


@pytest.fixture(scope="module", autouse=True)
def finn_dir(tmp_path_factory):
    finn_compat.init_finn(tmp_path_factory.mktemp("finn"))


def _fc_model(mw: int = 12, mh: int = 6) -> ModelWrapper:
    """x UINT4 [1, mw] -> MatMul (INT4 weights) -> MultiThreshold (UINT2 per channel)."""
    rng = np.random.default_rng(0)
    w = rng.integers(-7, 8, (mw, mh)).astype(np.float32)
    thr = np.sort(rng.integers(-20, 20, (mh, 3)), axis=1).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["acc"]),
        helper.make_node(
            "MultiThreshold",
            ["acc", "thr"],
            ["y"],
            domain="qonnx.custom_op.general",
            out_dtype="UINT2",
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "fc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, mw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, mh])],
        initializer=[
            helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.ravel()),
            helper.make_tensor("thr", TensorProto.FLOAT, thr.shape, thr.ravel()),
        ],
    )
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_tensor_datatype("x", DataType["UINT4"])
    model.set_tensor_datatype("w", DataType["INT4"])
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    return model.transform(InferShapes()).transform(InferDataTypes())


def _specialised(tmp_path, mvau_style="dsp") -> tuple[ModelWrapper, steps.PartitionCfg]:
    cfg = steps.PartitionCfg(
        "stage9", "stage", "xc7z020clg400-1", 10.0, target_cycles=4, work_dir=tmp_path
    )
    cfg.mvau_style = mvau_style
    model = _fc_model()
    for name in (
        "step_convert_to_hw",
        "step_minimize_bit_width_initial",
        "step_create_dataflow_partition",
        "step_specialize_layers",
    ):
        model = next(s for s in steps.STEPS if s.name == name).fn(model, cfg)
    return model, cfg


def test_folding_override_that_does_not_divide_names_layer_and_values(tmp_path):
    model, cfg = _specialised(tmp_path)
    mvau = next(n.name for n in model.graph.node if n.op_type.startswith("MVAU"))
    cfg.overrides = {mvau: {"PE": 4}}
    with pytest.raises(folding.FoldingError) as err:
        steps.step_set_folding(model, cfg)
    msg = str(err.value)
    assert "stage9" in msg and mvau in msg and "PE=4" in msg and "[1, 2, 3, 6]" in msg


def test_folding_override_unknown_layer(tmp_path):
    model, cfg = _specialised(tmp_path)
    cfg.overrides = {"MVAU_hls_7": {"SIMD": 2}}
    with pytest.raises(folding.FoldingError, match="no layer 'MVAU_hls_7'"):
        steps.step_set_folding(model, cfg)


def test_valid_override_applies_and_stays_exact(tmp_path):
    model, cfg = _specialised(tmp_path, "lut")
    mvau = next(n for n in model.graph.node if n.op_type.startswith("MVAU"))
    assert mvau.op_type == "MVAU_hls"
    cfg.overrides = {mvau.name: {"PE": 3, "SIMD": 4}}
    folded = steps.step_set_folding(model, cfg)
    from qonnx.custom_op.registry import getCustomOp

    inst = getCustomOp(folded.get_node_from_name(mvau.name))
    assert (inst.get_nodeattr("PE"), inst.get_nodeattr("SIMD")) == (3, 4)
    x = np.random.default_rng(1).integers(0, 16, (50, 12))
    ref = verify.run(_fc_model(), [x])[0]
    assert np.array_equal(verify.run(folded, [x])[0], ref)


def test_hls_mvau_minimum_simd_enforced_and_checked(tmp_path):
    """MW=2048 at one MAC per cycle: FINN's HLS MVAU needs SIMD >= 2 (asserts at codegen)."""
    cfg = steps.PartitionCfg(
        "head5", "head", "xc7z020clg400-1", 10.0, target_cycles=10**9, work_dir=tmp_path
    )
    cfg.mvau_style = "lut"
    model = _fc_model(mw=2048, mh=2)
    for name in ("step_convert_to_hw", "step_create_dataflow_partition", "step_specialize_layers"):
        model = next(s for s in steps.STEPS if s.name == name).fn(model, cfg)
    folded = steps.step_set_folding(model, cfg)
    from qonnx.custom_op.registry import getCustomOp

    mvau = next(n for n in folded.graph.node if n.op_type == "MVAU_hls")
    assert getCustomOp(mvau).get_nodeattr("SIMD") == 2
    cfg.overrides = {mvau.name: {"SIMD": 1}}
    with pytest.raises(folding.FoldingError, match="MW/1024"):
        steps.step_set_folding(model, cfg)


def test_unsupported_layer_is_named_with_a_fix(tmp_path):
    model = _fc_model()
    node = helper.make_node("Sigmoid", ["y"], ["z"], name="Sigmoid_head")
    model.graph.node.append(node)
    model.graph.output[0].name = "z"
    cfg = steps.PartitionCfg("head3", "head", "xc7z020clg400-1", 10.0, work_dir=tmp_path)
    with pytest.raises(
        steps.UnsupportedLayerError, match=r"head3: no FINN HW layer for Sigmoid_\d+ \(Sigmoid\)"
    ):
        steps.step_convert_to_hw(model, cfg)


def test_boards_table():
    assert set(BOARDS) == set(Board)
    z2 = board_spec("Pynq-Z2")
    assert z2.part == "xc7z020clg400-1" and z2.resources["DSP"] == 220 and z2.clock_mhz == 100
    assert board_spec(Board.ZCU104).part == "xczu7ev-ffvc1156-2-e"
    assert board_spec("KV260_SOM").part == "xck26-sfvc784-2LV-c"
    assert all(
        set(b.resources) == {"LUT", "FF", "BRAM_18K", "URAM", "DSP"} for b in BOARDS.values()
    )
    with pytest.raises(ValueError, match="Pynq-Z2"):
        board_spec("Pynq-Z3")


def test_reach_fractions_and_targets():
    exit_index = np.array([0, 0, 1, 2, 2, 0, 1, 2])
    assert folding.reach_fractions(exit_index, [0, 1, 2], 3) == [1.0, 5 / 8, 3 / 8]
    assert folding.stage_fractions(None, np.zeros(10, int), [0, 1], 2) == [1.0, 0.05]
    assert folding.stage_fractions([1.0, 0.3], None, [0, 1], 2) == [1.0, 0.3]
    with pytest.raises(ValueError, match="2 stages"):
        folding.stage_fractions([1.0], None, [0, 1], 2)
    assert folding.target_cycles(100.0, 20000) == 5000


def test_make_channels_last_and_strip_scale_keep_values():
    """NCHW conv-free graph: Mul(scale) -> MaxPool -> Mul(1/scale); NHWC I/O, same integers."""
    nodes = [
        helper.make_node("Mul", ["x", "s"], ["a"]),
        helper.make_node(
            "MaxPool", ["a"], ["b"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0]
        ),
        helper.make_node("Mul", ["b", "inv"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "pool",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 2, 2])],
        initializer=[
            helper.make_tensor("s", TensorProto.FLOAT, [1], [0.25]),
            helper.make_tensor("inv", TensorProto.FLOAT, [1], [4.0]),
        ],
    )
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_tensor_datatype("x", DataType["UINT4"])
    cfg = steps.PartitionCfg("head0", "head", "xc7z020clg400-1", 10.0)
    x = np.random.default_rng(2).integers(0, 16, (5, 3, 4, 4))
    ref = x.reshape(5, 3, 2, 2, 2, 2).max(axis=(3, 5))
    data = verify.PartitionData([x], [ref])
    for name in ("step_qonnx_to_finn", "step_channels_last", "step_streamline"):
        model = next(s for s in steps.STEPS if s.name == name).fn(model, cfg)
        result, _ = verify.check(model, data, 5)
        assert result.mismatches == 0, name
    assert model.get_metadata_prop(transforms.LAYOUT_KEY) == "NHWC"
    assert model.get_tensor_datatype(model.graph.input[0].name) == DataType["UINT4"]
    assert [n.op_type for n in model.graph.node] == ["MaxPoolNHWC"]


def _est(name: str, cycles: int, latency: int, beats: int = 49, width: int = 16):
    from exitflow.hw.flow.estimates import PartitionEstimate

    res = {"LUT": 100.0, "BRAM_18K": 0.0, "URAM": 0.0, "DSP": 0.0}
    return PartitionEstimate(name, [], cycles, latency, beats, width, beats, width, res, name)


def test_cond_buffer_depth_from_config_sets_size_and_memory(caplog):
    from exitflow.hw.flow.estimates import cond_buffer_specs

    ests = {
        "stage0": _est("stage0", 100, 300),
        "stage1": _est("stage1", 400, 900),
        "head0": _est("head0", 50, 250),
        "decision0": _est("decision0", 10, 20),
        "head1": _est("head1", 50, 250),
    }
    (auto,) = cond_buffer_specs([0, 1], ests)
    # the oldest frame's head + decision take 270 cycles: 3 more frames arrive, plus one written
    assert auto["depth_frames"] == 4
    (deep,) = cond_buffer_specs([0, 1], ests, 64)
    assert deep["depth_frames"] == 64 and deep["name"] == "cbuf0"
    # 64 frames of 49 x 16 bits no longer fit in LUT RAM: block RAM, sized by the depth
    assert deep["resources"]["BRAM_18K"] > auto["resources"]["BRAM_18K"]
    with caplog.at_level("WARNING"):
        (shallow,) = cond_buffer_specs([0, 1], ests, 2)
    assert shallow["depth_frames"] == 2
    assert "do not hide the decision latency" in caplog.text and "4 would hide it" in caplog.text
