"""Shared Verilator stream driver: build a model of any top module, feed its AXI-stream inputs.

One C++ harness (hw/tools/harness/stream_main.cpp), generated per top module, drives N
AXI-stream inputs from files of words and records M AXI-stream outputs with the cycle of every
beat, under seeded random input gaps and output back-pressure, with a deadlock timeout. It runs
at millions of cycles per second on small blocks (docs/rtl.md), so whole partitions can be
simulated on real images. Builds are cached by a hash of sources, parameters, ports, flags and
tool version.

Example::

    model = build_model("exit_decision", [rtl / "exit_decision.sv"],
                        inputs=[StreamPort("s", 80)], outputs=[StreamPort("m", 9)],
                        workdir=tmp, params={"C": 10, "W": 8})
    run = model.run({"s": words}, backpressure=0.3, seed=1, expect={"m": 100})
    run.outputs["m"], run.out_cycles["m"], run.in_cycles["s"], run.cycles

Port convention: exitflow's own RTL uses `<port>_tdata/_tvalid/_tready`, clock `ap_clk` and
active-low reset `ap_rst_n` (FINN's convention); `StreamPort.finn("in0_V", w)` names FINN's
`in0_V_TDATA/_TVALID/_TREADY`. Words are unsigned: pass negative values already masked, or let
`to_limbs` mask them (two's complement at the port width).

Register access: a model built with `axilite=AxiLitePort(...)` takes `reg_writes` (address,
value pairs written over AXI-Lite after reset, before the stream starts) and `reg_reads`
(addresses read after the stream ends; `StreamRun.registers`), so a test exercises a design's
real register path. `release` gives each input word an earliest cycle (arrival schedules).

Long runs (a whole generated top on thousands of frames): build with `opt=RUN_OPT` and, where
the design's assertions are not wanted, `assertions=False` (docs/rtl.md, "Co-simulation speed").

The code lives in stream_words (ports, limbs), stream_model (VerilatedModel.run, StreamRun)
and stream_build (build_model); this module is the public entry point.
"""

from __future__ import annotations

from exitflow.hw.tools.axilite_harness import AxiLitePort
from exitflow.hw.tools.stream_build import BUILD_OPT, HARNESS_VERSION, RUN_OPT, build_model
from exitflow.hw.tools.stream_model import StreamRun, VerilatedModel
from exitflow.hw.tools.stream_words import StreamPort, from_limbs, to_limbs

__all__ = [
    "BUILD_OPT",
    "HARNESS_VERSION",
    "RUN_OPT",
    "AxiLitePort",
    "StreamPort",
    "StreamRun",
    "VerilatedModel",
    "build_model",
    "from_limbs",
    "to_limbs",
]
