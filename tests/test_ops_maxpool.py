"""exitflow's RTL max-pool as a FINN HW op: python execution against FINN's own Pool, the
conversion inside FINN's flow (folding, DWC/FIFO insertion, cycles, estimates, HDL generation),
and the resource estimate against yosys synthesis of the same SystemVerilog."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("finn")

from finn.custom_op.fpgadataflow.pool import Pool
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import qonnx_make_model

from exitflow.core.errors import ConfigError, ToolMissingError
from exitflow.hw.ops.maxpool import ConvertMaxPoolToExitflowRTL, Pool_rtl, estimate, hls_maxpools
from exitflow.hw.ops.maxpool.op import CORE_SV
from exitflow.hw.ops.maxpool.reference import maxpool_nhwc

PART = "xc7z020clg400-1"
DTYPES = ["UINT2", "UINT4", "INT4", "INT8", "UINT8", "BIPOLAR"]


def _random(rng: np.random.Generator, dt: DataType, shape) -> np.ndarray:
    if dt.name == "BIPOLAR":
        return rng.choice([-1.0, 1.0], size=shape).astype(np.float32)
    return rng.integers(dt.min(), dt.max() + 1, size=shape).astype(np.float32)


def _pool_node(op: str, ch: int, pe: int, k: tuple[int, int], odims, dt: str, fn="MaxPool"):
    return helper.make_node(
        op,
        ["x"],
        ["y"],
        domain="finn.custom_op.fpgadataflow" + (".rtl" if op == "Pool_rtl" else ""),
        backend="fpgadataflow",
        InputDataType=dt,
        OutputDataType=dt,
        Channels=ch,
        PE=pe,
        KernelSize=list(k),
        Function=fn,
        OutImgDims=list(odims),
    )


@settings(max_examples=40, deadline=None)
@given(
    ch_pe=st.sampled_from([(1, 1), (4, 1), (4, 2), (16, 4), (16, 16), (6, 3)]),
    k=st.sampled_from([(2, 2), (3, 3), (1, 2), (4, 4)]),
    odims=st.sampled_from([(1, 1), (3, 3), (2, 5)]),
    dt=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
)
def test_python_execution_equals_finns_pool(ch_pe, k, odims, dt, seed):
    ch, pe = ch_pe
    x = _random(np.random.default_rng(seed), DataType[dt], (1, *odims, k[0] * k[1] * ch))
    outs = []
    for op, cls in (("Pool", Pool), ("Pool_rtl", Pool_rtl)):
        ctx = {"x": x, "y": np.zeros((1, *odims, ch), np.float32)}
        cls(_pool_node(op, ch, pe, k, odims, dt)).execute_node(ctx, None)
        outs.append(ctx["y"])
    np.testing.assert_array_equal(outs[1], outs[0])
    # and not trivially: a max-pool output differs from a plain subsample of its input
    assert outs[1].shape == (1, *odims, ch)


def maxpool_model(h, w, c, k, s, dt) -> ModelWrapper:
    """One MaxPoolNHWC node on an h x w x c `dt` map (test_ops_maxpool_rtl builds on it too)."""
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    node = helper.make_node(
        "MaxPoolNHWC",
        ["x"],
        ["y"],
        domain="qonnx.custom_op.general",
        kernel_shape=[k, k],
        strides=[s, s],
        pads=[0, 0, 0, 0],
    )
    graph = helper.make_graph(
        [node],
        "maxpool",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, h, w, c])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, oh, ow, c])],
    )
    model = ModelWrapper(qonnx_make_model(graph, producer_name="test"))
    model.set_tensor_datatype("x", DataType[dt])
    return model.transform(InferShapes()).transform(InferDataTypes())


def _to_hw(model: ModelWrapper) -> ModelWrapper:
    from finn.transformation.fpgadataflow.convert_to_hw import conv_inp_gen, pool

    return model.transform(pool.InferPool()).transform(conv_inp_gen.InferConvInpGen())


@pytest.mark.parametrize(
    ("h", "w", "c", "k", "s", "dt"),
    [
        (28, 28, 16, 2, 2, "UINT4"),  # fmnist3 stage 0
        (7, 7, 8, 2, 2, "INT4"),  # odd size: floor, the last row and column are dropped
        (16, 16, 4, 8, 8, "UINT2"),  # cnv_exits head: kernel 8
        (9, 9, 6, 3, 2, "INT8"),  # overlapping windows (kernel > stride)
    ],
)
def test_graph_with_rtl_pool_equals_direct_maxpool(h, w, c, k, s, dt):
    """FINN's SWG (python) feeding Pool_rtl gives the max-pool of the image (direct loops)."""
    from finn.core.onnx_exec import execute_onnx

    model = _to_hw(maxpool_model(h, w, c, k, s, dt))
    assert hls_maxpools(model) == [n.name for n in model.get_nodes_by_op_type("Pool")]
    model = model.transform(ConvertMaxPoolToExitflowRTL())
    assert [n.op_type for n in model.graph.node] == ["ConvolutionInputGenerator", "Pool_rtl"]
    x = _random(np.random.default_rng(h * c), DataType[dt], (1, h, w, c))
    y = execute_onnx(model, {"x": x})["y"]
    np.testing.assert_array_equal(y, maxpool_nhwc(x, (k, k), (s, s)))


def _specialised_and_folded(target_cycles: int) -> ModelWrapper:
    from finn.transformation.fpgadataflow.set_folding import SetFolding
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    model = _to_hw(maxpool_model(28, 28, 16, 2, 2, "UINT4"))
    model = model.transform(SpecializeLayers(PART))
    return model.transform(SetFolding(target_cycles))


def test_finn_flow_treats_pool_rtl_as_native(tmp_path):
    """After folding: no HLS max-pool left; FINN's DWC/FIFO insertion, cycle annotation,
    resource estimate and HDL generation all handle Pool_rtl; its HDL lints clean."""
    from finn.analysis.fpgadataflow.res_estimation import res_estimation
    from finn.transformation.fpgadataflow.annotate_cycles import AnnotateCycles
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.transformation.general import GiveUniqueNodeNames

    from exitflow.hw.flow.finn_compat import init_finn

    init_finn(tmp_path / "finn")
    model = _specialised_and_folded(target_cycles=3200)
    assert [n.op_type for n in model.graph.node] == ["ConvolutionInputGenerator_rtl", "Pool_hls"]
    pe = getCustomOp(model.graph.node[1]).get_nodeattr("PE")
    assert 1 < pe < 16  # a real folding: PE neither 1 nor all channels
    model = model.transform(ConvertMaxPoolToExitflowRTL())
    for trn in (
        InsertDWC(),
        InsertFIFO(create_shallow_fifos=True),
        SpecializeLayers(PART),
        GiveUniqueNodeNames(),
        AnnotateCycles(),
    ):
        model = model.transform(trn)
    ops = [n.op_type for n in model.graph.node]
    assert "Pool_hls" not in ops and "Pool_rtl" in ops
    assert all(n.domain == "finn.custom_op.fpgadataflow.rtl" for n in model.graph.node)
    node = model.get_nodes_by_op_type("Pool_rtl")[0]
    inst = getCustomOp(node)
    assert inst.get_nodeattr("PE") == pe
    assert inst.get_nodeattr("cycles_estimate") == estimate.exp_cycles(16, pe, 4, 14 * 14)
    assert res_estimation(model, PART)[node.name]["LUT"] == estimate.resources(pe, 4, 4)["LUT"]

    model = model.transform(PrepareIP(PART, 10.0))
    inst = getCustomOp(model.get_nodes_by_op_type("Pool_rtl")[0])
    files = inst.get_rtl_file_list(abspath=True)
    assert all(Path(f).is_file() for f in files)
    wrapper = Path(files[1]).read_text()
    for port in ("ap_clk", "ap_rst_n", "in0_V_TDATA", "in0_V_TREADY", "out0_V_TVALID"):
        assert port in wrapper
    _lint(files, inst.get_nodeattr("gen_top_module"))


def _lint(files, top):
    from exitflow.hw.tools.verilator import find_verilator

    try:
        tool = find_verilator()
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    tool.run(
        ["--lint-only", "-Wall", "--top-module", top, *map(str, files)], cwd=Path(files[0]).parent
    )


def test_mismatched_swg_folding_is_refused():
    model = _specialised_and_folded(target_cycles=3200)
    _swg, pool = model.graph.node
    getCustomOp(pool).set_nodeattr("PE", 16)  # a hand override of one of the two
    with pytest.raises(ConfigError, match="SIMD"):
        model.transform(ConvertMaxPoolToExitflowRTL())


def test_other_pool_functions_are_left_to_finn():
    node = _pool_node("Pool", 4, 4, (2, 2), (2, 2), "UINT4", fn="AccPool")
    graph = helper.make_graph(
        [node],
        "acc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 2, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 4])],
    )
    model = ModelWrapper(qonnx_make_model(graph))
    model, modified = ConvertMaxPoolToExitflowRTL().apply(model)
    assert not modified and model.graph.node[0].op_type == "Pool"
    assert (
        Pool_rtl(_pool_node("Pool_rtl", 4, 4, (2, 2), (2, 2), "UINT4", "AccPool"))
        .verify_node()[-1]
        .startswith("Pool_rtl implements MaxPool only")
    )


YOSYS = shutil.which("yosys")


def _synth(params: dict[str, int]) -> dict[str, int]:
    sets = " ".join(f"-set {k} {v}" for k, v in params.items())
    script = (
        f"read_verilog -sv {CORE_SV}; chparam {sets} exitflow_maxpool; "
        "synth_xilinx -family xc7 -top exitflow_maxpool; stat"
    )
    out = subprocess.run([YOSYS, "-p", script], capture_output=True, text=True, check=True).stdout
    stats = out[out.rindex("Printing statistics") :]
    cells = {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\w+)\s+(\d+)$", stats, re.M)}
    luts = sum(v for k, v in cells.items() if re.fullmatch(r"LUT[2-6]", k))
    return {"LUT": luts, "FF": cells.get("FDRE", 0) + cells.get("FDSE", 0)}


@pytest.mark.skipif(
    YOSYS is None, reason="yosys not on PATH (scripts/install_tools.sh installs it)"
)
# none of these was among the fitted points: a signed 8-bit layer, kernel 3, PE 6 of 4-bit
@pytest.mark.parametrize(("pe", "w", "kk", "signed"), [(12, 8, 4, 1), (24, 4, 9, 0), (6, 4, 4, 0)])
def test_estimate_tracks_synthesis(pe, w, kk, signed):
    est = estimate.resources(pe, w, kk)
    got = _synth({"PE": pe, "W": w, "KK": kk, "SIGNED": signed})
    assert got["FF"] == est["FF"]  # registers are exact: no logic is shared between them
    assert got["LUT"] == pytest.approx(est["LUT"], rel=0.25)


def test_build_steps_leave_no_hls_maxpool(tmp_path):
    """exitflow's own build steps (hw.steps), convert -> codegen: the partition's max-pool is
    Pool_rtl with the folding the target asked for, and its HDL is generated."""
    from exitflow.hw.flow import steps
    from exitflow.hw.flow.finn_compat import init_finn

    init_finn(tmp_path / "finn")
    cfg = steps.PartitionCfg(
        "stage0", "stage", PART, 10.0, target_cycles=1600, work_dir=tmp_path / "work"
    )
    model = maxpool_model(28, 28, 16, 2, 2, "UINT4")
    first = steps.STEP_NAMES.index("step_convert_to_hw")
    last = steps.STEP_NAMES.index("step_hw_codegen")
    for step in steps.STEPS[first : last + 1]:
        model = step.fn(model, cfg)
    ops = [n.op_type for n in model.graph.node]
    assert "Pool_hls" not in ops and ops.count("Pool_rtl") == 1
    node = model.get_nodes_by_op_type("Pool_rtl")[0]
    inst = getCustomOp(node)
    pe = inst.get_nodeattr("PE")
    swg = getCustomOp(model.find_producer(node.input[0]))
    assert swg.get_nodeattr("SIMD") == pe  # folding's SWG/Pool tie survived the swap
    assert inst.get_nodeattr("cycles_estimate") == estimate.exp_cycles(16, pe, 4, 196) <= 1600
    assert all(Path(f).is_file() for f in inst.get_rtl_file_list(abspath=True))
