"""The synthesis copy of finn-rtllib's memstream.sv behaves as the original, and maps to SRLs.

synth_rtl.SYNTH_PATCHES rewrites memstream's output credit buffer (an unpacked array read at a
variable index) as one packed shift register per bit, so that yosys finds SRL16Es as Vivado
does. The check is independent of the patch's own reasoning: a bounded SAT proof (yosys `sat`,
20 cycles, every `ordy` sequence, reset in the first) that the original module and the patched
copy give the same `ovld` in every cycle and the same `odat` whenever `ovld` is high. A mutant
(the read index off by one) must fail the same proof, so the check can fail.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from exitflow.core.errors import ToolMissingError

pytest.importorskip("finn")


def _yosys():
    from exitflow.hw.tools.yosys import find_yosys

    try:
        return find_yosys()
    except ToolMissingError as exc:
        pytest.skip(str(exc))


_TB = """module ms_equiv(input logic clk, input logic rst, input logic ordy, output logic bad);
  logic gv, pv; logic [{w1}:0] gd, pd;
  memstream #(.SETS(1), .DEPTH({depth}), .WIDTH({width}), .INIT_FILE("{init}")) gold (
    .clk, .rst, .config_ce(1'b0), .config_we(1'b0), .config_address('0), .config_d0('0),
    .config_rack(), .config_q0(), .sidx('0), .svld(1'b0), .srdy(), .ordy, .ovld(gv), .odat(gd));
  memstream_patched #(.SETS(1), .DEPTH({depth}), .WIDTH({width}), .INIT_FILE("{init}")) gate (
    .clk, .rst, .config_ce(1'b0), .config_we(1'b0), .config_address('0), .config_d0('0),
    .config_rack(), .config_q0(), .sidx('0), .svld(1'b0), .srdy(), .ordy, .ovld(pv), .odat(pd));
  assign bad = (gv != pv) || (gv && gd != pd);
endmodule
"""


def _patched_memstream(tmp_path: Path) -> tuple[Path, str]:
    from exitflow.hw.tools.rtllib import finn_rtllib_source
    from exitflow.hw.tools.synth_rtl import prepare_sources

    lib, _ = finn_rtllib_source()
    original = lib / "memstream/hdl/memstream.sv"
    (patched,) = prepare_sources([original], tmp_path / "cache")
    assert patched != original and "genOSrl" in patched.read_text()
    return original, patched.read_text()


def _sat(tmp_path: Path, files: list[Path], tb: str, steps: int) -> bool:
    """True when a SAT proof over `steps` cycles finds no cycle where `ms_equiv`'s `bad` is
    high (every input sequence from reset)."""
    yosys = _yosys()
    tb_file = tmp_path / "tb.sv"
    tb_file.write_text(tb)
    script = tmp_path / "eq.ys"
    script.write_text(
        f"read_slang -j 1 --ignore-assertions --top ms_equiv {' '.join(map(str, files))} "
        f"{tb_file}\nhierarchy -top ms_equiv\nproc\nflatten\nmemory\nopt_clean\n"
        f"sat -seq {steps} -set-at 1 rst 1 -set-init-zero -prove bad 0 -verify\n"
    )
    log = tmp_path / "eq.log"
    env = None
    if yosys.wasm:
        import os

        from exitflow.hw.tools.yosys import _mount_points

        env = dict(os.environ)
        mounts = _mount_points([tmp_path, *(f.parent for f in files)])
        env["YOWASP_MOUNT"] = ":".join(f"{m}={m}" for m in mounts)
    done = subprocess.run(
        [*yosys.command, "-q", "-l", str(log), "-s", str(script)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    text = log.read_text()
    errors = [ln for ln in text.splitlines() if "ERROR" in ln and "proof did fail" not in ln]
    assert not errors, text[-2000:]
    ok = "SAT proof finished - no model found: SUCCESS!" in text
    assert ok == (done.returncode == 0), text[-2000:]
    return ok


def _prove(tmp_path: Path, original: Path, patched: str, depth: int, width: int) -> bool:
    """memstream: the original against the patched copy (renamed memstream_patched)."""
    renamed = re.sub(r"(?m)^module memstream #\(", "module memstream_patched #(", patched)
    renamed = renamed.replace("endmodule : memstream\n", "endmodule : memstream_patched\n")
    gate = tmp_path / "memstream_patched.sv"
    gate.write_text(renamed)
    init = tmp_path / "words.dat"
    init.write_text("".join(f"{(7 * i + 3) % (1 << width):x}\n" for i in range(depth)))
    tb = _TB.format(w1=width - 1, depth=depth, width=width, init=init)
    return _sat(tmp_path, [original, gate], tb, 20)  # 8 credits: the buffer fills by cycle 12


@pytest.mark.parametrize(("depth", "width"), [(5, 3), (2, 2)])
def test_patched_memstream_streams_the_same_words(tmp_path: Path, depth: int, width: int) -> None:
    original, patched = _patched_memstream(tmp_path)
    assert _prove(tmp_path, original, patched, depth, width)


def test_the_equivalence_proof_catches_a_wrong_read_index(tmp_path: Path) -> None:
    original, patched = _patched_memstream(tmp_path)
    read = "Srl[OPtr[$left(OPtr)-1:0]]"
    assert patched.count(read) == 1
    mutant = patched.replace(read, "Srl[OPtr[$left(OPtr)-1:0] ^ 1]")
    assert not _prove(tmp_path, original, mutant, 5, 3)


def test_memstream_credit_buffer_becomes_srls(tmp_path: Path) -> None:
    """WIDTH SRL16E and no 7 x WIDTH flip-flops (before the patch: 0 SRL, 7 x WIDTH FF more)."""
    from exitflow.hw.tools.rtllib import finn_rtllib_source
    from exitflow.hw.tools.synth_rtl import synthesise_top

    lib, _ = finn_rtllib_source()
    init = tmp_path / "words.dat"
    width, depth = 12, 40
    init.write_text("".join(f"{(5 * i + 1) % (1 << width):x}\n" for i in range(depth)))
    res = synthesise_top(
        [lib / "memstream/hdl/memstream.sv"], "memstream", tmp_path / "synth", _yosys(),
        params={"SETS": 1, "DEPTH": depth, "WIDTH": width, "INIT_FILE": str(init)},
    )  # fmt: skip
    assert res.cells.get("SRL16E", 0) == width
    # config write data, read data, the two readout stages and the output register: 5 words
    assert res.ff < 5 * width + 40


# mvu_vvu_axi's output block, cut out of the file and wrapped in a module of its own (the rest
# of the MVU instantiates DSP48E1 black boxes, which a SAT proof cannot model). The test bench
# never pushes into a full queue (the MVU's lock guarantees it; MAX_IN_FLIGHT recomputed here).
_OBUF_WRAP = """module obuf_{tag} #(int unsigned PE = 1, int unsigned ACCU_WIDTH = 2, int unsigned SIMD = 9,
    int unsigned VERSION = 1, int unsigned SEGMENTLEN = 0)(
  input logic ap_clk, input logic rst, input logic ovld, input logic [PE-1:0][ACCU_WIDTH-1:0] odat,
  input logic m_axis_output_tready, output logic m_axis_output_tvalid,
  output logic [((PE*ACCU_WIDTH+7)/8)*8-1:0] m_axis_output_tdata, output logic idle);
  localparam int unsigned  OUTPUT_STREAM_WIDTH = PE*ACCU_WIDTH;
  localparam int unsigned  OUTPUT_STREAM_WIDTH_BA = (OUTPUT_STREAM_WIDTH + 7)/8 * 8;
{block}endmodule
"""
_OBUF_TB = """module ms_equiv(input logic clk, input logic rst, input logic push, input logic rdy,
    input logic [1:0] d, output logic bad);
  localparam int unsigned  MAX = 3 + $clog2(9) + 1 + 1;  // MAX_IN_FLIGHT at SIMD 9
  logic [4:0] n = 0;  // words in the queue
  uwire gv, pv, gi, pi; uwire [7:0] gd, pd;
  uwire pop = (rdy || !gv) && n != 0;
  uwire ovld = push && (n < MAX || pop);
  always_ff @(posedge clk) if(rst) n <= 0; else n <= n + ovld - pop;
  obuf_gold gold (.ap_clk(clk), .rst, .ovld, .odat(d), .m_axis_output_tready(rdy),
    .m_axis_output_tvalid(gv), .m_axis_output_tdata(gd), .idle(gi));
  obuf_gate gate (.ap_clk(clk), .rst, .ovld, .odat(d), .m_axis_output_tready(rdy),
    .m_axis_output_tvalid(pv), .m_axis_output_tdata(pd), .idle(pi));
  assign bad = (gv != pv) || (gi != pi) || (gv && gd != pd);
endmodule
"""


def _obuf_block(text: str) -> str:
    found = re.findall(r"\tif\(1\) begin : blkOutput\n.*?end : blkOutput\n", text, flags=re.S)
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("mutate", [False, True])
def test_patched_mvu_output_queue_gives_the_same_words(tmp_path: Path, mutate: bool) -> None:
    from exitflow.hw.tools.rtllib import patched_rtllib
    from exitflow.hw.tools.synth_rtl import prepare_sources

    original = patched_rtllib(tmp_path / "cache") / "mvu/mvu_vvu_axi.sv"  # what synthesis reads
    patched = prepare_sources([original], tmp_path / "synth")[-1]
    assert patched != original and "genOBuf" in patched.read_text()
    gate = _obuf_block(patched.read_text())
    if mutate:  # the check can fail: a queue one word longer at the read side
        read = "Srl[OPtr[$left(OPtr)-1:0]]"
        assert gate.count(read) == 1
        gate = gate.replace(read, "Srl[OPtr[$left(OPtr)-1:0] + 1]")
    files = []
    for tag, block in (("gold", _obuf_block(original.read_text())), ("gate", gate)):
        files.append(tmp_path / f"obuf_{tag}.sv")
        files[-1].write_text(_OBUF_WRAP.format(tag=tag, block=block))
    assert _sat(tmp_path, files, _OBUF_TB, 16) is not mutate  # full (10 words) by cycle 12
