"""The Vivado project generator and its dry run (tclsh with stub Vivado commands), on a small
stand-in top with the generated top's port list and a FINN-style data file; every check of the
dry run is shown to fail on a broken project. The real build is `vivado`-marked."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from exitflow.hw import boards
from exitflow.hw.config import Board
from exitflow.hw.vivado import (
    SUPPORTED_VIVADO,
    VivadoProject,
    check_board_table,
    dry_run,
    generate_project,
    materialise,
    run_vivado,
)
from exitflow.hw.vivado.dryrun import _board_problems
from exitflow.hw.vivado.project import PROJECT_TOKEN
from exitflow.hw.vivado.shell import parse_ports

pytestmark = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")

_AXIL = """  input wire [11:0] s_axilite_AWADDR, input wire s_axilite_AWVALID,
  output wire s_axilite_AWREADY, input wire [31:0] s_axilite_WDATA,
  input wire [3:0] s_axilite_WSTRB, input wire s_axilite_WVALID, output wire s_axilite_WREADY,
  output wire [1:0] s_axilite_BRESP, output wire s_axilite_BVALID, input wire s_axilite_BREADY,
  input wire [11:0] s_axilite_ARADDR, input wire s_axilite_ARVALID,
  output wire s_axilite_ARREADY, output wire [31:0] s_axilite_RDATA,
  output wire [1:0] s_axilite_RRESP, output wire s_axilite_RVALID, input wire s_axilite_RREADY"""


@pytest.fixture
def design(tmp_path: Path) -> SimpleNamespace:
    """A stand-in for exitflow.hw.top.TopDesign: the generated top's ports, a weight memory
    read from an absolute path (as FINN's memstream wrappers do) and a glue file outside."""
    gen = tmp_path / "finn" / "code_gen_ipgen_MVAU_rtl_0_x"
    gen.mkdir(parents=True)
    (gen / "memblock.dat").write_text("0f\n1e\n")
    rtl = tmp_path / "rtl"
    (rtl / "stage0").mkdir(parents=True)
    mem = rtl / "stage0" / "mem.sv"
    mem.write_text(
        f'module fake_top_stage0_mem #(parameter INIT_FILE = "{gen}/memblock.dat") '
        "(input wire ap_clk);\n  reg [7:0] m [0:1];\n  initial $readmemh(INIT_FILE, m);\nendmodule\n"
    )
    glue = tmp_path / "glue" / "sfifo.sv"
    glue.parent.mkdir()
    glue.write_text("module sfifo (input wire ap_clk);\nendmodule\n")
    top = rtl / "fake_top.sv"
    top.write_text(
        "module fake_top (\n  input wire ap_clk, input wire ap_rst_n,\n"
        "  input wire [7:0] in_tdata, input wire in_tvalid, output wire in_tready,\n"
        "  output wire [181:0] out_tdata, output wire out_tvalid, input wire out_tready,\n"
        f"{_AXIL}\n);\n  fake_top_stage0_mem u_mem (.ap_clk(ap_clk));\nendmodule\n"
    )
    return SimpleNamespace(
        name="fake_top", rtl_dir=rtl, sources=[mem, glue, top],
        input=SimpleNamespace(width=8), output=SimpleNamespace(width=182),
        plan=SimpleNamespace(design="fake"),
    )  # fmt: skip


@pytest.mark.parametrize("board", [b.value for b in Board])
def test_dry_run_passes_for_every_board(design, tmp_path: Path, board: str) -> None:
    proj = generate_project(design, board, tmp_path / board)
    rep = dry_run(proj.dir)
    assert rep.ok, rep.problems
    spec = boards.board_spec(board)
    assert rep.cells["ps"] == spec.ps and rep.cells["accel"] == "accel"
    assert rep.files_added == len(proj.sources) + 2  # + the xdc and the block design wrapper
    assert proj.dma_in == 8 and proj.dma_out == 256 and proj.clock_mhz == spec.clock_mhz
    assert proj.part == spec.part and proj.versions == list(SUPPORTED_VIVADO)


def test_sources_are_the_simulated_files_with_data_paths_relocated(design, tmp_path) -> None:
    proj = generate_project(design, "Pynq-Z2", tmp_path / "p")
    assert [s["origin"] for s in proj.sources[:-1]] == [str(s) for s in design.sources]
    (rel_dir, origin), = proj.data_dirs.items()  # fmt: skip
    for s, src in zip(proj.sources, design.sources, strict=False):
        copy = (proj.dir / s["path"]).read_text()
        assert copy.replace(f"{PROJECT_TOKEN}/{rel_dir}", origin) == src.read_text()
    assert (proj.dir / rel_dir / "memblock.dat").read_bytes() == b"0f\n1e\n"
    # moved elsewhere, the compiled copies point into the project's own data/
    moved = tmp_path / "moved"
    shutil.move(str(proj.dir), moved)
    files = materialise(moved, tmp_path / "mat")
    text = files[0].read_text()
    assert str(moved / rel_dir / "memblock.dat") in text and PROJECT_TOKEN not in text
    assert dry_run(moved).ok


def test_script_refuses_a_vivado_it_was_not_written_for(design, tmp_path) -> None:
    proj = generate_project(design, "ZCU104", tmp_path / "p")
    rep = dry_run(proj.dir, version="2023.1")
    assert rep.refused and rep.ok and rep.calls == 1
    assert "2022.2 or 2024.2" in (rep.error or "") and "XILINX_VIVADO" in (rep.error or "")
    only = generate_project(design, "ZCU104", tmp_path / "q", versions=("2024.2",))
    assert dry_run(only.dir, version="2024.2").ok
    assert dry_run(only.dir, version="2022.2").refused


def _mutate(proj: VivadoProject, rel: str, old: str, new: str) -> None:
    path = proj.dir / rel
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("rel", "old", "new", "expect"),
    [
        ("create_project.tcl", "accel/s_axis_in]", "accel/s_axis_data]", "accel/s_axis_data"),
        ("create_project.tcl", "[get_bd_pins accel/ap_rst_n]", "", "accel/ap_rst_n"),
        ("create_project.tcl", "{256}", "{128}", "c_s_axis_s2mm_tdata_width 128"),
        ("create_project.tcl", "tul.com.tw:pynq-z2", "www.digilentinc.com:pynq-z1",
         "board part"),
        ("create_project.tcl", "ctrl_sc/M01_AXI", "ctrl_sc/M02_AXI", "ctrl_sc/M02_AXI"),
        ("create_project.tcl", "-part xc7z020clg400-1", "-part xc7z010clg400-1", "project part"),
        ("create_project.tcl", "launch_runs impl_1", "launch_run impl_1", "launch_run"),
        ("create_project.tcl", "{100}]", "{125}]", "PS fabric clock"),
        ("rtl/fake_top_shell.v", ".out_tready(m_axis_out_tready)", ".out_ready(x)",
         "port out_tready"),
        ("rtl/fake_top.sv", "out_tdata,", "out_tdata, output wire extra,", "extra"),
    ],
)  # fmt: skip
def test_dry_run_catches_a_broken_project(design, tmp_path, rel, old, new, expect) -> None:
    proj = generate_project(design, "Pynq-Z2", tmp_path / "p")
    _mutate(proj, rel, old, new)
    rep = dry_run(proj.dir)
    assert not rep.ok
    assert any(expect in p for p in rep.problems), rep.problems


def test_dry_run_catches_missing_files_and_board_files(design, tmp_path) -> None:
    proj = generate_project(design, "KV260_SOM", tmp_path / "p")
    rep = dry_run(proj.dir, board_files="none")
    assert not rep.ok and "board files of KV260_SOM" in (rep.error or "")
    (proj.dir / proj.data_files[0]["path"]).unlink()
    (proj.dir / "rtl" / "exitflow" / "sfifo.sv").unlink()
    problems = dry_run(proj.dir).problems
    assert any("sfifo.sv" in p for p in problems)
    assert any("memblock.dat" in p for p in problems)


def test_shell_ports_follow_the_top_and_the_dma(design, tmp_path) -> None:
    proj = generate_project(design, "Ultra96-V2", tmp_path / "p")
    ports = parse_ports((proj.dir / "rtl" / "fake_top_shell.v").read_text(), "fake_top_shell")
    assert ports["s_axis_in_tdata"].width == 8 and ports["m_axis_out_tdata"].width == 256
    assert ports["m_axis_out_tlast"].direction == "output"
    assert ports["s_axilite_AWADDR"].width == 12
    script = proj.script.read_text()
    assert "zynq_ultra_ps_e" in script and "{150}" in script and "c_addr_width {64}" in script


def test_board_table_is_consistent_and_checked() -> None:
    assert check_board_table() == []
    assert set(boards.BOARDS) == set(Board) and len(Board) == 5
    z2 = boards.board_spec(Board.PYNQ_Z2)
    assert _board_problems(dataclasses.replace(z2, board_part="xilinx.com:zcu104:part0:1.1"))
    assert _board_problems(dataclasses.replace(z2, clock_mhz=400.0))
    assert _board_problems(dataclasses.replace(z2, board_part="tul.com.tw:pynq-z2:1.0"))


def test_board_table_is_checked_against_finn(monkeypatch) -> None:
    pytest.importorskip("finn")
    bad = dataclasses.replace(boards.BOARDS[Board.ULTRA96_V2], part="xczu3eg-sbva484-1-e")
    monkeypatch.setitem(boards.BOARDS, Board.ULTRA96_V2, bad)
    assert any("finn-plus says xczu3eg-sbva484-1-i" in p for p in check_board_table())


def test_missing_vivado_names_versions_and_the_fix(design, tmp_path) -> None:
    from exitflow.core.errors import ToolMissingError

    proj = generate_project(design, "Pynq-Z1", tmp_path / "p")
    with pytest.raises(ToolMissingError, match=r"2022\.2 or 2024\.2.*--vivado.*XILINX_VIVADO"):
        run_vivado(proj, None)
    assert json.loads((proj.dir / "project.json").read_text())["board"] == "Pynq-Z1"


@pytest.mark.vivado
def test_real_vivado_builds_the_bitstream(design, tmp_path) -> None:
    vivado = shutil.which("vivado") or (
        os.path.join(os.environ["XILINX_VIVADO"], "bin", "vivado")
        if os.environ.get("XILINX_VIVADO")
        else None
    )
    if not vivado:
        pytest.skip("Vivado not installed (set XILINX_VIVADO or put vivado on PATH)")
    proj = generate_project(design, "Pynq-Z2", tmp_path / "p")
    res = run_vivado(proj, Path(vivado))
    assert res.bit.stat().st_size > 0 and res.hwh.stat().st_size > 0
