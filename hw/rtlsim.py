"""Icarus Verilog runs of exitflow's own RTL (decision unit, conditional buffer) from Python.

The RTL under hw/rtl/ is verified against the Python references: `quant.policies` for the decision
unit, and "frames released in order, exited frames dropped" for the conditional buffer. Each run
writes a generated testbench with seeded random stalls on both sides (back-pressure), runs `vvp`
and parses what the testbench printed. The iverilog binary is passed in (resolved by the CLI or
the tests), never looked up here.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

RTL_DIR = Path(__file__).resolve().parent / "rtl"
POLICY_CODES = {"max_logit": 0, "margin": 1}


class RtlSimError(RuntimeError):
    """iverilog/vvp failed or the testbench reported an error."""


@dataclass(frozen=True)
class RtlTools:
    """Paths of the Icarus Verilog compiler and runtime."""

    iverilog: Path
    vvp: Path


def _run(tools: RtlTools, sources: list[Path], testbench: str, files: dict[str, str]) -> str:
    with tempfile.TemporaryDirectory(prefix="exitflow-rtl-") as tmp:
        work = Path(tmp)
        for name, text in files.items():
            (work / name).write_text(text)
        tb = work / "tb.v"
        tb.write_text(testbench)
        binary = work / "sim.vvp"
        cmd = [str(tools.iverilog), "-g2012", "-o", str(binary), str(tb), *map(str, sources)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
        if done.returncode != 0:
            raise RtlSimError(f"iverilog failed:\n{done.stderr}")
        done = subprocess.run(
            [str(tools.vvp), "-n", str(binary)], capture_output=True, text=True, cwd=work
        )
        if done.returncode != 0 or "ERROR" in done.stdout:
            raise RtlSimError(f"vvp failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout


def _hex_lines(values: np.ndarray, width: int) -> str:
    mask = (1 << width) - 1
    return "\n".join(f"{int(v) & mask:x}" for v in values.ravel()) + "\n"


_DECISION_TB = """
`timescale 1ns/1ps
module tb;
  localparam integer N = {n}, C = {c}, W = {w}, CW = {cw};
  reg clk = 0, rst_n = 0;
  always #5 clk = ~clk;
  reg [W-1:0] mem [0:N*C-1];
  reg [W-1:0] s_tdata; reg s_tvalid; wire s_tready;
  wire [CW:0] m_tdata; wire m_tvalid; reg m_tready;
  integer sent = 0, got = 0, cycles = 0, seed = {seed};
  exit_decision #(.C(C), .W(W), .POLICY({policy}), .THRESHOLD({threshold}),
                  .SINGLE_MARGIN({single_margin}), .CW(CW)) dut (
    .clk(clk), .rst_n(rst_n), .s_tdata(s_tdata), .s_tvalid(s_tvalid), .s_tready(s_tready),
    .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));
  initial begin
    $readmemh("logits.hex", mem);
    s_tvalid = 0; m_tready = 0; s_tdata = 0;
    repeat (3) @(posedge clk);
    rst_n = 1;
  end
  always @(posedge clk) if (rst_n) begin
    cycles = cycles + 1;
    if (m_tvalid && m_tready) begin
      $display("D %0d %0d %0d", got, m_tdata[CW:1], m_tdata[0]);
      got = got + 1;
    end
    if (s_tvalid && s_tready) sent = sent + 1;
    if (got == N) begin $display("CYCLES %0d", cycles); $finish; end
    if (cycles > 100 * N * C + 1000) begin $display("ERROR timeout"); $finish; end
  end
  always @(negedge clk) if (rst_n) begin
    s_tvalid <= (sent < N*C) && (($urandom(seed) % 100) >= {in_stall});
    s_tdata <= mem[sent < N*C ? sent : 0];
    m_tready <= ($urandom(seed) % 100) >= {out_stall};
  end
endmodule
"""


def simulate_exit_decision(
    tools: RtlTools,
    logits: np.ndarray,
    policy: str,
    threshold: int,
    width: int = 16,
    single_margin: int = 0,
    stall_percent: tuple[int, int] = (20, 20),
    seed: int = 1,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Run exit_decision.v on integer logits [N, C]; returns (fire[N], class[N], cycles)."""
    if policy not in POLICY_CODES:
        raise ValueError(f"the RTL decision unit implements {sorted(POLICY_CODES)}, not {policy!r}")
    logits = np.asarray(logits, dtype=np.int64)
    n, c = logits.shape
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if logits.min(initial=0) < lo or logits.max(initial=0) > hi:
        raise ValueError(f"logits exceed the {width}-bit range [{lo}, {hi}]: widen `width`")
    cw = max(1, int(np.ceil(np.log2(max(c, 2)))))
    tb = _DECISION_TB.format(
        n=n,
        c=c,
        w=width,
        cw=cw,
        seed=seed,
        policy=POLICY_CODES[policy],
        threshold=int(threshold),
        single_margin=int(single_margin),
        in_stall=stall_percent[0],
        out_stall=stall_percent[1],
    )
    out = _run(tools, [RTL_DIR / "exit_decision.v"], tb, {"logits.hex": _hex_lines(logits, width)})
    fire = np.zeros(n, dtype=bool)
    cls = np.zeros(n, dtype=np.int64)
    cycles = -1
    for line in out.splitlines():
        parts = line.split()
        if parts[:1] == ["D"]:
            i = int(parts[1])
            cls[i], fire[i] = int(parts[2]), bool(int(parts[3]))
        elif parts[:1] == ["CYCLES"]:
            cycles = int(parts[1])
    return fire, cls, cycles


_CBUF_TB = """
`timescale 1ns/1ps
module tb;
  localparam integer NF = {nf}, FB = {fb}, DW = 32;
  reg clk = 0, rst_n = 0;
  always #5 clk = ~clk;
  reg [DW-1:0] data [0:NF*FB-1];
  reg dec [0:NF-1];
  reg [DW-1:0] s_tdata; reg s_tvalid; wire s_tready;
  reg d_tdata; reg d_tvalid; wire d_tready;
  wire [DW-1:0] m_tdata; wire m_tvalid; reg m_tready;
  integer sent = 0, dsent = 0, got = 0, cycles = 0, idle = 0, seed = {seed};
  cond_buffer #(.DW(DW), .FRAME_BEATS(FB), .DEPTH_FRAMES({depth})) dut (
    .clk(clk), .rst_n(rst_n), .s_tdata(s_tdata), .s_tvalid(s_tvalid), .s_tready(s_tready),
    .d_tdata(d_tdata), .d_tvalid(d_tvalid), .d_tready(d_tready),
    .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));
  initial begin
    $readmemh("data.hex", data);
    $readmemh("dec.hex", dec);
    s_tvalid = 0; d_tvalid = 0; m_tready = 0;
    repeat (3) @(posedge clk);
    rst_n = 1;
  end
  always @(posedge clk) if (rst_n) begin
    cycles = cycles + 1;
    idle = idle + 1;
    if (m_tvalid && m_tready) begin $display("O %0d", m_tdata); got = got + 1; idle = 0; end
    if (s_tvalid && s_tready) begin sent = sent + 1; idle = 0; end
    if (d_tvalid && d_tready) begin dsent = dsent + 1; idle = 0; end
    if (sent == NF*FB && dsent == NF && idle > 50) begin $display("CYCLES %0d", cycles); $finish; end
    if (idle > 10000) begin $display("ERROR deadlock sent=%0d decisions=%0d out=%0d", sent, dsent, got); $finish; end
  end
  always @(negedge clk) if (rst_n) begin
    s_tvalid <= (sent < NF*FB) && (($urandom(seed) % 100) >= {in_stall});
    s_tdata <= data[sent < NF*FB ? sent : 0];
    // a decision may only follow the first beat of its frame (the head reads the forked copy)
    d_tvalid <= (dsent < NF) && (sent > dsent * FB + {lag}) && (($urandom(seed) % 100) >= {in_stall});
    d_tdata <= dec[dsent < NF ? dsent : 0];
    m_tready <= ($urandom(seed) % 100) >= {out_stall};
  end
endmodule
"""


def simulate_cond_buffer(
    tools: RtlTools,
    frames: np.ndarray,
    drop: np.ndarray,
    depth_frames: int = 2,
    decision_lag_beats: int = 0,
    stall_percent: tuple[int, int] = (20, 20),
    seed: int = 1,
) -> tuple[np.ndarray, int]:
    """Run cond_buffer.v on frames [NF, FRAME_BEATS] (uint32 words) with per-frame drop flags."""
    frames = np.asarray(frames, dtype=np.int64)
    nf, fb = frames.shape
    drop = np.asarray(drop, dtype=bool)
    if drop.shape != (nf,):
        raise ValueError(f"need one drop flag per frame ({nf}), got {drop.shape}")
    lag = min(max(decision_lag_beats, 0), fb - 1)
    tb = _CBUF_TB.format(
        nf=nf,
        fb=fb,
        seed=seed,
        depth=depth_frames,
        lag=lag,
        in_stall=stall_percent[0],
        out_stall=stall_percent[1],
    )
    files = {"data.hex": _hex_lines(frames, 32), "dec.hex": _hex_lines(drop.astype(np.int64), 1)}
    out = _run(tools, [RTL_DIR / "cond_buffer.v"], tb, files)
    words = [int(line.split()[1]) for line in out.splitlines() if line.startswith("O ")]
    cycles = next(
        (int(line.split()[1]) for line in out.splitlines() if line.startswith("CYCLES")), -1
    )
    return np.asarray(words, dtype=np.int64), cycles
