"""A built Verilator stream model and one simulation's results (exitflow.hw.tools.stream).

`VerilatedModel.run` writes the stimulus files the C++ harness reads (hw/tools/harness/
stream_main.cpp), runs the binary once and reads back every output beat and handshake cycle.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exitflow.core.errors import ConfigError, SimulationError
from exitflow.hw.tools.axilite_harness import AxiLitePort
from exitflow.hw.tools.stream_words import StreamPort, from_limbs, to_limbs

__all__ = ["StreamRun", "VerilatedModel"]


@dataclass
class StreamRun:
    """What one simulation produced.

    outputs[port]: words (uint64, or Python ints for ports wider than 64 bits);
    out_limbs[port]: the same as (n, limbs) uint32; out_cycles[port]: cycle of each beat;
    in_cycles[port]: cycle each input word was accepted; cycles: cycles simulated after reset;
    status: "done", "deadlock" (no handshake for max_idle_cycles) or "max_cycles";
    wall_s: seconds the simulation binary ran.
    """

    outputs: dict[str, np.ndarray]
    out_limbs: dict[str, np.ndarray]
    out_cycles: dict[str, np.ndarray]
    in_cycles: dict[str, np.ndarray]
    cycles: int
    status: str
    wall_s: float = 0.0
    registers: dict[int, int] = field(default_factory=dict)


@dataclass
class VerilatedModel:
    """A built Verilator model with the stream harness; `run` simulates one stimulus."""

    top: str
    binary: Path
    inputs: tuple[StreamPort, ...]
    outputs: tuple[StreamPort, ...]
    controls: tuple[StreamPort, ...] = ()
    axilite: AxiLitePort | None = None
    run_dir: Path | None = None
    build_s: float = 0.0
    cached: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def run(
        self,
        inputs: Mapping[str, Any],
        *,
        expect: Mapping[str, int] | None = None,
        controls: Mapping[str, Any] | None = None,
        backpressure: float = 0.0,
        gaps: float = 0.0,
        seed: int = 0,
        max_idle_cycles: int = 10_000,
        max_cycles: int = 2**62,
        drain_cycles: int = 32,
        check: bool = True,
        cwd: str | os.PathLike | None = None,
        release: Mapping[str, Any] | None = None,
        reg_writes: Sequence[tuple[int, int]] = (),
        reg_reads: Sequence[int] = (),
    ) -> StreamRun:
        """Feed `inputs` (port name -> words) and collect every output beat.

        expect: beats per output port; the run stops once all inputs are accepted and those
        counts are reached, then runs `drain_cycles` more to catch surplus beats. Ports without
        a count are collected until `max_idle_cycles` pass with no handshake. backpressure:
        probability that an output's TREADY is low in a cycle; gaps: probability that an input
        with data left withholds TVALID in a cycle (both seeded by `seed`). With `check`, a
        deadlock or cycle-limit stop raises SimulationError. `cwd` is where the simulation runs
        (FINN's Thresholding_rtl opens its .dat files by relative path); default `run_dir`.
        release: port name -> earliest cycle of each of its words (an arrival schedule; gaps
        still apply). reg_writes / reg_reads: AXI-Lite (address, value) writes before the
        stream and addresses read after it (`StreamRun.registers`), for a model built with
        `axilite`.
        """
        if (reg_writes or reg_reads) and self.axilite is None:
            raise ConfigError(
                f"{self.top}: register access needs a model built with axilite=AxiLitePort(...)."
            )
        unknown = set(inputs) - {p.name for p in self.inputs}
        missing = {p.name for p in self.inputs} - set(inputs)
        if unknown or missing:
            raise ConfigError(
                f"{self.top}: inputs given {sorted(inputs)} but the model's input ports are "
                f"{[p.name for p in self.inputs]}: pass exactly those."
            )
        expect = dict(expect or {})
        if set(expect) - {p.name for p in self.outputs}:
            raise ConfigError(
                f"{self.top}: expect names {sorted(expect)}, not all among the output ports "
                f"{[p.name for p in self.outputs]}."
            )
        controls = dict(controls or {})
        with tempfile.TemporaryDirectory(prefix="run-", dir=self.binary.parent) as tmp:
            rundir = Path(tmp)
            for i, port in enumerate(self.inputs):
                to_limbs(inputs[port.name], port.width).tofile(rundir / f"in_{i}.bin")
            for i, port in enumerate(self.inputs):
                if release is not None and port.name in release:
                    at = np.asarray(release[port.name], dtype=np.uint64)
                    if at.shape != (len(to_limbs(inputs[port.name], port.width)),):
                        raise ConfigError(
                            f"{self.top}: release[{port.name!r}] needs one cycle per word."
                        )
                    at.tofile(rundir / f"at_{i}.bin")
            np.asarray([v for w in reg_writes for v in w], dtype=np.uint64).astype(
                np.uint32
            ).tofile(rundir / "axil_w.bin")
            np.asarray(list(reg_reads), dtype=np.uint32).tofile(rundir / "axil_r.bin")
            ctl = [to_limbs([controls.get(p.name, 0)], p.width) for p in self.controls]
            np.concatenate([c.ravel() for c in ctl] or [np.zeros(1, np.uint32)]).tofile(
                rundir / "ctl.bin"
            )
            args = [
                str(self.binary),
                str(rundir),
                repr(float(backpressure)),
                repr(float(gaps)),
                str(int(seed) & (2**64 - 1)),
                str(int(max_idle_cycles)),
                str(int(max_cycles)),
                str(int(drain_cycles)),
                *[str(int(expect.get(p.name, -1))) for p in self.outputs],
            ]
            where = Path(cwd) if cwd is not None else (self.run_dir or self.binary.parent)
            start = time.perf_counter()
            done = subprocess.run(args, cwd=where, capture_output=True, text=True)
            wall = time.perf_counter() - start
            if done.returncode != 0 or not (rundir / "status.txt").is_file():
                raise SimulationError(
                    f"{self.top}: the Verilator simulation exited with {done.returncode}:\n"
                    f"{(done.stdout + done.stderr)[-4000:]}\nFix the RTL error above (an "
                    "$error/$fatal in the design or a missing data file in the run folder)."
                )
            status, cycles = (rundir / "status.txt").read_text().split()
            result = self._collect(rundir, status, int(cycles), wall)
            if reg_reads:
                vals = np.fromfile(rundir / "axil_rd.bin", dtype="<u4")
                result.registers = {int(a): int(v) for a, v in zip(reg_reads, vals)}
        if check and status != "done":
            got = {p: len(v) for p, v in result.outputs.items()}
            accepted = {p: len(v) for p, v in result.in_cycles.items()}
            raise SimulationError(
                f"{self.top}: simulation stopped by {status} after {cycles} cycles: output beats "
                f"{got} (expected {expect or 'unknown'}), input words accepted {accepted}. Fix: "
                "look for a stall (a port never ready) or a wrong expected count; raise "
                "max_idle_cycles for designs with long silent phases."
            )
        return result

    def _collect(self, rundir: Path, status: str, cycles: int, wall: float) -> StreamRun:
        outputs, out_limbs, out_cycles, in_cycles = {}, {}, {}, {}
        for i, port in enumerate(self.inputs):
            in_cycles[port.name] = np.fromfile(rundir / f"acc_{i}.bin", dtype="<u8")
        for j, port in enumerate(self.outputs):
            rec = np.fromfile(
                rundir / f"out_{j}.bin", dtype=[("cycle", "<u8"), ("w", "<u4", (port.limbs,))]
            )
            out_cycles[port.name] = rec["cycle"].copy()
            limbs = rec["w"].reshape(len(rec), port.limbs).copy()
            out_limbs[port.name] = limbs
            outputs[port.name] = from_limbs(limbs, port.width)
        return StreamRun(outputs, out_limbs, out_cycles, in_cycles, cycles, status, wall)
