"""exitflow's RTL max-pool in Verilator against its python reference, under random stalls.

The HDL is what the op's generate_hdl writes for FINN (wrapper + core), driven by the shared
stream driver (exitflow.hw.tools.stream). A second test stitches FINN's own depthwise
ConvolutionInputGenerator_rtl in front of it, as in a built partition, and compares with a
direct max-pool of the image: that checks the stream order the op assumes of FINN's SWG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("finn")

from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp

from exitflow.core.errors import ToolMissingError
from exitflow.hw.ops.maxpool import Pool_rtl, estimate
from exitflow.hw.ops.maxpool.reference import (
    maxpool_nhwc,
    pack_lanes,
    pool_beats,
    unpack_lanes,
)


@pytest.fixture(scope="module")
def stream_tools(tmp_path_factory):
    from exitflow.hw.tools import stream
    from exitflow.hw.tools.verilator import find_verilator

    try:
        find_verilator()
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    return stream, tmp_path_factory.mktemp("maxpool_models")


def _op(ch: int, pe: int, k: tuple[int, int], dt: str, name: str, gen_dir: Path) -> Pool_rtl:
    node = helper.make_node(
        "Pool_rtl",
        ["x"],
        ["y"],
        domain="finn.custom_op.fpgadataflow.rtl",
        name=name,
        backend="fpgadataflow",
        InputDataType=dt,
        OutputDataType=dt,
        Channels=ch,
        PE=pe,
        KernelSize=list(k),
        Function="MaxPool",
        OutImgDims=[1, 1],
    )
    inst = Pool_rtl(node)
    gen_dir.mkdir(parents=True, exist_ok=True)
    inst.set_nodeattr("code_gen_dir_ipgen", str(gen_dir))
    inst.generate_hdl(None, "xc7z020clg400-1", 10.0)
    return inst


def _words(beats: np.ndarray, bits: int, port_bits: int):
    """Stream words; a uint64 array up to 64 bits (a list of Python ints >= 2**63 would pass
    through float64 in np.asarray and lose bits)."""
    words = pack_lanes(beats, bits)
    return np.array(words, dtype=np.uint64) if port_bits <= 64 else words


def _beats(rng, n: int, pe: int, dt: DataType) -> np.ndarray:
    if dt.name == "BIPOLAR":  # stored as 0/1: the encoding is what the RTL compares
        return rng.integers(0, 2, size=(n, pe))
    return rng.integers(dt.min(), dt.max() + 1, size=(n, pe))


@pytest.mark.parametrize(
    ("pe", "dt", "kk", "backpressure", "gaps"),
    [
        (4, "UINT4", 4, 0.3, 0.2),  # fmnist3-like 2x2 pool of 4-bit activations
        (3, "INT8", 9, 0.5, 0.5),  # signed, kernel 3, a PE that is not a power of two
        (1, "BIPOLAR", 64, 0.2, 0.0),  # 1-bit elements, kernel 8 (cnv_exits heads)
        (16, "INT4", 1, 0.4, 0.3),  # kernel 1: every beat is its own window
    ],
)
def test_rtl_equals_reference_under_stalls(stream_tools, pe, dt, kk, backpressure, gaps):
    stream, work = stream_tools
    k = (kk, 1)
    inst = _op(pe * 2, pe, k, dt, f"mp_{pe}_{dt}_{kk}", work / f"gen_{pe}_{dt}_{kk}")
    files = inst.get_rtl_file_list(abspath=True)
    dtype = DataType[dt]
    width = pe * dtype.bitwidth()
    in_bits = inst.get_instream_width_padded()
    out_bits = inst.get_outstream_width_padded()
    model = stream.build_model(
        inst.get_nodeattr("gen_top_module"),
        files,
        inputs=[stream.StreamPort.finn("in0_V", in_bits)],
        outputs=[stream.StreamPort.finn("out0_V", out_bits)],
        workdir=work,
    )
    rng = np.random.default_rng(kk * 100 + pe)
    groups = 300 // kk + 3
    beats = _beats(rng, groups * kk, pe, dtype)
    signed = dtype.signed() and dt != "BIPOLAR"
    run = model.run(
        {"in0_V": _words(beats, dtype.bitwidth(), in_bits)},
        expect={"out0_V": groups},
        backpressure=backpressure,
        gaps=gaps,
        seed=pe + kk,
    )
    words = [int(w) & ((1 << width) - 1) for w in run.outputs["out0_V"]]
    got = unpack_lanes(words, pe, dtype.bitwidth(), signed)
    np.testing.assert_array_equal(got, pool_beats(beats, kk))
    # the byte padding of the output stream is zero
    assert all(int(w) >> width == 0 for w in run.outputs["out0_V"])


def test_rtl_rate_and_latency_match_estimates(stream_tools):
    """No stalls: one input beat per cycle, each output one cycle after its window's last beat."""
    stream, work = stream_tools
    pe, kk, dt = 2, 4, DataType["UINT4"]
    inst = _op(4, pe, (2, 2), "UINT4", "mp_rate", work / "gen_rate")
    model = stream.build_model(
        "mp_rate",
        inst.get_rtl_file_list(abspath=True),
        inputs=[stream.StreamPort.finn("in0_V", 8)],
        outputs=[stream.StreamPort.finn("out0_V", 8)],
        workdir=work,
    )
    beats = _beats(np.random.default_rng(3), 40 * kk, pe, dt)
    run = model.run({"in0_V": _words(beats, 4, 8)}, expect={"out0_V": 40})
    acc = run.in_cycles["in0_V"]
    assert np.all(np.diff(acc) == 1)  # full rate: exp_cycles == number of input beats
    assert len(acc) == estimate.exp_cycles(4, pe, kk, 20)  # 4 ch, 2x2 windows, 20 pixels
    last = acc[kk - 1 :: kk]
    assert np.all(run.out_cycles["out0_V"] - last == estimate.latency_cycles())


def _swg_pool_partition(h: int, c: int, k: int, s: int, pe: int, dt: str, finn_dir: Path):
    """MaxPoolNHWC lowered by FINN (SWG_rtl + Pool_hls), folded to `pe`, Pool -> Pool_rtl, HDL."""
    from finn.transformation.fpgadataflow.convert_to_hw import conv_inp_gen, pool
    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.transformation.general import GiveUniqueNodeNames
    from test_ops_maxpool import maxpool_model

    from exitflow.hw.flow.finn_compat import init_finn
    from exitflow.hw.ops.maxpool import ConvertMaxPoolToExitflowRTL

    init_finn(finn_dir)
    model = maxpool_model(h, h, c, k, s, dt)  # shapes and datatypes inferred
    for trn in (
        pool.InferPool(),
        conv_inp_gen.InferConvInpGen(),
        SpecializeLayers("xc7z020clg400-1"),
    ):
        model = model.transform(trn)
    swg, mp = model.graph.node
    getCustomOp(swg).set_nodeattr("SIMD", pe)  # what SetFolding does for a depthwise pair
    getCustomOp(mp).set_nodeattr("PE", pe)
    model = model.transform(ConvertMaxPoolToExitflowRTL()).transform(GiveUniqueNodeNames())
    return model.transform(PrepareIP("xc7z020clg400-1", 10.0))


_TOP = """module mp_top (input ap_clk, input ap_rst_n,
  input [{b}-1:0] in0_V_TDATA, input in0_V_TVALID, output in0_V_TREADY,
  output [{b}-1:0] out0_V_TDATA, output out0_V_TVALID, input out0_V_TREADY);
  wire [{b}-1:0] mid_TDATA; wire mid_TVALID, mid_TREADY;
  {swg} swg (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
    .in0_V_TDATA(in0_V_TDATA), .in0_V_TVALID(in0_V_TVALID), .in0_V_TREADY(in0_V_TREADY),
    .out0_V_TDATA(mid_TDATA), .out0_V_TVALID(mid_TVALID), .out0_V_TREADY(mid_TREADY));
  {pool} pool (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
    .in0_V_TDATA(mid_TDATA), .in0_V_TVALID(mid_TVALID), .in0_V_TREADY(mid_TREADY),
    .out0_V_TDATA(out0_V_TDATA), .out0_V_TVALID(out0_V_TVALID), .out0_V_TREADY(out0_V_TREADY));
endmodule
"""


@pytest.mark.parametrize(
    ("h", "c", "k", "s", "pe", "dt"),
    [
        (8, 8, 2, 2, 2, "UINT4"),  # a preset's 2x2 pool, PE folded below the channels
        (7, 6, 3, 2, 3, "INT4"),  # odd size, overlapping 3x3 windows, signed
    ],
)
def test_finn_swg_then_pool_rtl_equals_maxpool(stream_tools, tmp_path, h, c, k, s, pe, dt):
    stream, work = stream_tools
    model = _swg_pool_partition(h, c, k, s, pe, dt, tmp_path / "finn")
    swg, mp = (getCustomOp(n) for n in model.graph.node)
    assert [n.op_type for n in model.graph.node] == ["ConvolutionInputGenerator_rtl", "Pool_rtl"]
    dtype = DataType[dt]
    bits = swg.get_outstream_width_padded()
    assert bits == mp.get_instream_width_padded() == swg.get_instream_width_padded()
    top = tmp_path / "mp_top.v"
    top.write_text(
        _TOP.format(
            b=bits, swg=swg.get_nodeattr("gen_top_module"), pool=mp.get_nodeattr("gen_top_module")
        )
    )
    sources = [*swg.get_rtl_file_list(abspath=True), *mp.get_rtl_file_list(abspath=True), top]
    sim = stream.build_model(
        "mp_top",
        sources,
        inputs=[stream.StreamPort.finn("in0_V", bits)],
        outputs=[stream.StreamPort.finn("out0_V", bits)],
        workdir=work,
    )
    rng = np.random.default_rng(h + k)
    frames = 3
    x = rng.integers(dtype.min(), dtype.max() + 1, size=(frames, h, h, c))
    o = (h - k) // s + 1
    run = sim.run(
        {"in0_V": _words(x.reshape(-1, pe), dtype.bitwidth(), bits)},
        expect={"out0_V": frames * o * o * c // pe},
        backpressure=0.3,
        gaps=0.2,
        seed=h,
    )
    width = pe * dtype.bitwidth()
    words = [int(w) & ((1 << width) - 1) for w in run.outputs["out0_V"]]
    got = unpack_lanes(words, pe, dtype.bitwidth(), dtype.signed()).reshape(frames, o, o, c)
    np.testing.assert_array_equal(got, maxpool_nhwc(x, (k, k), (s, s)))
