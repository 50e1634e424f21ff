"""Shared pieces of the RTL block tests (tests/test_ops_*.py).

Cycle-exact checks need the stall pattern each port saw. The shared Verilator driver
(exitflow.hw.tools.stream) draws its own random gaps and back-pressure and does not report
them, so these tests run it with none and put a generated wrapper around the block instead:
every stream port is gated by its own xorshift32 sequence (an input offers its beat, an output
accepts one, only in cycles whose gate is open). `gates` computes the same sequences in Python,
so the simulator's own processes (exitflow.sim.stepper_procs) can be run with exactly the stalls
the RTL saw, cycle for cycle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exitflow.hw.tools.stream import StreamPort, build_model
from exitflow.sim.model import NodeTiming
from exitflow.sim.stepper_procs import BufferProc, Fifo, ReaderProc, WriterProc

REPO = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO / ".pytest_cache" / "exitflow-verilator"
MASK32 = 0xFFFFFFFF


def gates(seed: int, stall_percent: int, n: int) -> np.ndarray:
    """Gate of each cycle 0..n-1: xorshift32 from `seed`, open when its low byte >= threshold."""
    thr = stall_threshold(stall_percent)
    x = seed & MASK32
    out = np.empty(n, dtype=bool)
    for t in range(n):
        out[t] = (x & 0xFF) >= thr
        x ^= (x << 13) & MASK32
        x ^= x >> 17
        x ^= (x << 5) & MASK32
    return out


def stall_threshold(stall_percent: int) -> int:
    """Gate threshold on the low byte of the sequence for a stall probability in percent."""
    return min(256, round(256 * stall_percent / 100))


def port_seed(seed: int, k: int) -> int:
    """Seed of port k's sequence (the wrapper computes the same from its `gate_seed` input)."""
    x = (seed ^ (0x9E3779B9 * (k + 1))) & MASK32
    return x or 1


def gated_top(
    name: str, instance: str, inputs: list[tuple[str, int]], outputs: list[tuple[str, int]]
) -> str:
    """A wrapper `name` whose ports <p>_tdata/_tvalid/_tready drive `instance` through gates.

    `instance` connects the block to wires <p>_d_tdata/_d_tvalid/_d_tready (the gated side).
    Run-time inputs: `gate_seed` (32 bits) and one 9-bit stall threshold `<p>_stall` per port.
    """
    ports = [*inputs, *outputs]
    heads = ["input wire ap_clk", "input wire ap_rst_n", "input wire [31:0] gate_seed"]
    heads += [f"input wire [8:0] {p}_stall" for p, _ in ports]
    heads += [
        f"input wire [{w - 1}:0] {p}_tdata, input wire {p}_tvalid, output wire {p}_tready"
        for p, w in inputs
    ]
    heads += [
        f"output wire [{w - 1}:0] {p}_tdata, output wire {p}_tvalid, input wire {p}_tready"
        for p, w in outputs
    ]
    lines = [f"module {name} (", ",\n".join("  " + h for h in heads), ");"]
    for k, (p, w) in enumerate(ports):
        mult = (0x9E3779B9 * (k + 1)) & MASK32
        lines += [
            f"  wire [31:0] {p}_s0 = gate_seed ^ 32'd{mult};",
            f"  reg [31:0] {p}_x; wire {p}_g = ({{1'b0, {p}_x[7:0]}} >= {p}_stall);",
            f"  wire [31:0] {p}_x1 = {p}_x ^ ({p}_x << 13);",
            f"  wire [31:0] {p}_x2 = {p}_x1 ^ ({p}_x1 >> 17);",
            f"  always @(posedge ap_clk) if (!ap_rst_n) {p}_x <= ({p}_s0 == 0) ? 32'd1 : {p}_s0;",
            f"    else {p}_x <= {p}_x2 ^ ({p}_x2 << 5);",
            f"  wire [{w - 1}:0] {p}_d_tdata; wire {p}_d_tvalid, {p}_d_tready;",
        ]
    for p, _ in inputs:
        lines += [
            f"  assign {p}_d_tdata = {p}_tdata; assign {p}_d_tvalid = {p}_tvalid && {p}_g;",
            f"  assign {p}_tready = {p}_d_tready && {p}_g;",
        ]
    for p, _ in outputs:
        lines += [
            f"  assign {p}_tdata = {p}_d_tdata; assign {p}_tvalid = {p}_d_tvalid && {p}_g;",
            f"  assign {p}_d_tready = {p}_tready && {p}_g;",
        ]
    lines += [instance, "endmodule", ""]
    return "\n".join(lines)


class GatedBlock:
    """A block inside the gated wrapper, built once; `run` takes the seed and stalls per run."""

    def __init__(
        self,
        name: str,
        sources: list[Path],
        instance: str,
        inputs: list[tuple[str, int]],
        outputs: list[tuple[str, int]],
    ) -> None:
        self.inputs, self.outputs = inputs, outputs
        self.ports = [p for p, _ in (*inputs, *outputs)]
        BUILD_DIR.mkdir(parents=True, exist_ok=True)
        wrapper = BUILD_DIR / f"{name}.sv"
        text = gated_top(name, instance, inputs, outputs)
        if not wrapper.is_file() or wrapper.read_text() != text:
            wrapper.write_text(text)
        controls = [StreamPort("gate_seed", 32, data="gate_seed")]
        controls += [StreamPort(f"{p}_stall", 9, data=f"{p}_stall") for p in self.ports]
        self.model = build_model(
            name,
            [*sources, wrapper],
            inputs=[StreamPort(p, w) for p, w in inputs],
            outputs=[StreamPort(p, w) for p, w in outputs],
            controls=controls,
            workdir=BUILD_DIR,
        )

    def run(self, words: dict, expect: dict, seed: int, stall_percent: dict[str, int]):
        """Run with gates from `seed`; returns (StreamRun, gates per port as in `gates`)."""
        controls = {"gate_seed": seed & MASK32}
        controls |= {f"{p}_stall": stall_threshold(stall_percent.get(p, 0)) for p in self.ports}
        run = self.model.run(words, expect=expect, controls=controls, max_idle_cycles=20_000)
        n = 2 * run.cycles + 1000  # the model may be slower than the RTL: let it finish
        g = {
            p: gates(port_seed(seed, k), stall_percent.get(p, 0), n)
            for k, p in enumerate(self.ports)
        }
        return run, g


# ---- the simulator's processes, driven by gated sources and sinks ----


class GatedSource:
    """Stands for a FIFO the block reads: its next item is present in cycles whose gate is open."""

    def __init__(self, name: str, items: list, gate: np.ndarray) -> None:
        self.name, self.all, self.gate = name, items, gate
        self.next = self.pops = 0
        self.t = 0
        self.writer = self.reader = None
        self.pushes: list = []
        self.max_occ = 0
        self.read_cycles: list[int] = []

    @property
    def items(self) -> list:
        if self.next < len(self.all) and self.gate[self.t]:
            return [self.all[self.next]]
        return []

    def full(self) -> bool:
        return False

    def apply(self) -> None:
        self.read_cycles += [self.t] * self.pops
        self.next += self.pops
        self.pops = 0


class GatedSink:
    """Stands for a FIFO the block writes: it has room in cycles whose gate is open."""

    def __init__(self, name: str, gate: np.ndarray) -> None:
        self.name, self.gate = name, gate
        self.t = 0
        self.pushes: list = []
        self.got: list = []
        self.cycles: list[int] = []
        self.writer = self.reader = None

    def full(self) -> bool:
        return not self.gate[self.t]

    def apply(self) -> None:
        self.got += self.pushes
        self.cycles += [self.t] * len(self.pushes)
        self.pushes = []


def sim_cond_buffer(
    exited: np.ndarray, frame_beats: int, depth_frames: int, verdict_depth: int, g: dict
) -> dict[str, np.ndarray]:
    """The simulator's conditional buffer and verdict FIFO under the gates g["s"], g["d"], g["m"].

    Returns the cycles of every accepted beat (s), verdict (d) and released beat (m), and the
    released (frame, beat) pairs.
    """
    nf = len(exited)
    store = Fifo("store", frame_beats * depth_frames)
    verdict = Fifo("verdict", verdict_depth)
    out = GatedSink("m", g["m"])
    buf = BufferProc("cond_buffer", list(range(nf)), frame_beats, store, verdict, out)
    beats = [(f, j) for f in range(nf) for j in range(frame_beats)]
    s_cycles, d_cycles = [], []
    n = len(g["m"])
    for t in range(n):
        out.t = t
        if len(s_cycles) < len(beats) and g["s"][t] and not store.full():
            store.pushes.append(beats[len(s_cycles)])
            s_cycles.append(t)
        if len(d_cycles) < nf and g["d"][t] and not verdict.full():
            verdict.pushes.append((len(d_cycles), bool(exited[len(d_cycles)])))
            d_cycles.append(t)
        buf.step(t)
        for fifo in (store, verdict, out):
            fifo.apply()
        if buf.phi >= nf and len(s_cycles) == len(beats):
            break
    else:
        raise AssertionError("the simulator's buffer did not finish within the gate sequence")
    return {
        "s": np.asarray(s_cycles),
        "d": np.asarray(d_cycles),
        "m": np.asarray(out.cycles),
        "released": out.got,
    }


def sim_decision_node(num_classes: int, num_frames: int, g: dict) -> dict[str, np.ndarray]:
    """The simulator's decision-unit node (I = C, O = 1, ii = C, latency C + 1) under gates."""
    c = num_classes
    timing = NodeTiming.make("exit_decision", c, 1, c, c + 1)
    frames = list(range(num_frames))
    src = GatedSource("s", [(f, j) for f in frames for j in range(c)], g["s"])
    out = GatedSink("m", g["m"])
    reader = ReaderProc(timing, frames, src)
    writer = WriterProc(timing, frames, reader, [out])
    for t in range(len(g["m"])):
        src.t = out.t = t
        reader.step(t)
        writer.step(t)
        src.apply()
        out.apply()
        if len(out.cycles) == num_frames:
            break
    else:
        raise AssertionError("the simulator's decision node did not finish within the gates")
    return {"s": np.asarray(src.read_cycles), "m": np.asarray(out.cycles)}


def first_difference(what: str, rtl: np.ndarray, model: np.ndarray, per: int, block: str) -> str:
    """A message naming the block, the frame and the beat where two cycle lists first differ."""
    rtl, model = np.asarray(rtl), np.asarray(model)
    n = min(len(rtl), len(model))
    bad = np.flatnonzero(rtl[:n] != model[:n])
    if len(bad) == 0:
        if len(rtl) == len(model):
            return ""
        return f"{block}: {what}: {len(rtl)} beats in the RTL, {len(model)} in the simulator"
    i = int(bad[0])
    return (
        f"{block}: {what} of frame {i // per} (beat {i % per}) at cycle {int(rtl[i])} in the "
        f"RTL, {int(model[i])} in the simulator's model"
    )


__all__ = [
    "BUILD_DIR",
    "GatedBlock",
    "GatedSink",
    "GatedSource",
    "first_difference",
    "gated_top",
    "gates",
    "port_seed",
    "sim_cond_buffer",
    "sim_decision_node",
]
