"""Write a self-contained Vivado project directory for a generated top and a board.

`generate_project(design, board, out_dir)` copies every RTL source of the top (the FINN layers
and finn-rtllib files exactly as the Verilator co-simulation compiled them, exitflow's blocks,
the generated top) under `rtl/`, the weight and threshold files they read under `data/`, writes
the Verilog shell (exitflow.hw.vivado.shell), `constraints/exitflow.xdc`, the Tcl script
`create_project.tcl`, `project.json` (what is where, with hashes and origins) and a README.

The copies differ from the simulated files in one respect only: a string literal naming a data
file (`INIT_FILE`, `THRESHOLDS_PATH`) points at `@EXITFLOW_PROJECT@/data/<dir>/...` instead of
the build folder; the Tcl script replaces the token with the project's own folder when it runs,
so the directory can be moved or copied to a machine with Vivado.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from exitflow import __version__
from exitflow.core.errors import ConfigError, PrerequisiteError
from exitflow.core.files import write_json, write_text
from exitflow.hw.boards import BoardSpec, board_spec
from exitflow.hw.config import Board
from exitflow.hw.vivado.shell import ShellSpec, shell_verilog

__all__ = [
    "PROJECT_TOKEN",
    "SUPPORTED_VIVADO",
    "VivadoProject",
    "generate_project",
    "materialise",
    "sha256_file",
]

log = logging.getLogger(__name__)

SUPPORTED_VIVADO = ("2022.2", "2024.2")  # finn-plus 1.6.1's README: "2022.2 or 2024.2"
PROJECT_TOKEN = "@EXITFLOW_PROJECT@"
SCRIPT = "create_project.tcl"
_TEMPLATE = Path(__file__).resolve().parent / "tcl" / "project.tcl"
_LITERAL = re.compile(r'"(/[^"\n]+)"')


@dataclass
class VivadoProject:
    """A written project directory (project.json holds the same fields)."""

    dir: Path
    design: str
    board: str
    part: str
    board_part: str
    ps: str
    top: str
    shell: str
    clock_mhz: float
    versions: list[str]
    in_width: int
    out_width: int
    dma_in: int
    dma_out: int
    sources: list[dict[str, str]] = field(default_factory=list)  # path, sha256, origin
    data_files: list[dict[str, str]] = field(default_factory=list)
    data_dirs: dict[str, str] = field(default_factory=dict)  # data/<name> -> original folder

    @property
    def script(self) -> Path:
        return self.dir / SCRIPT

    @property
    def bit(self) -> Path:
        return self.dir / "output" / f"{self.design}.bit"

    @property
    def hwh(self) -> Path:
        return self.dir / "output" / f"{self.design}.hwh"

    @property
    def rtl_sha256(self) -> str:
        """One digest of every source and data file (path and content), in order."""
        h = hashlib.sha256()
        for s in [*self.sources, *self.data_files]:
            h.update(f"{s['path']}\0{s['sha256']}\n".encode())
        return h.hexdigest()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("dir")
        return d

    @classmethod
    def load(cls, project_dir: str | Path) -> VivadoProject:
        """Read project_dir/project.json (PrerequisiteError when absent)."""
        path = Path(project_dir) / "project.json"
        if not path.is_file():
            raise PrerequisiteError(
                f"{path} is missing: not an exitflow Vivado project. Fix: run `exitflow bitstream`."
            )
        return cls(dir=Path(project_dir), **json.loads(path.read_text()))


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _relocate(text: str, data_dirs: dict[str, str]) -> str:
    """Point absolute data-file literals at the project's data/ copies (filled in data_dirs)."""

    def sub(m: re.Match[str]) -> str:
        lit = Path(m.group(1))
        folder, prefix = (lit, "") if lit.is_dir() else (lit.parent, lit.name)
        if not folder.is_dir() or not any(p.name.startswith(prefix) for p in folder.iterdir()):
            return m.group(0)  # not a data file (or not there): left as written
        by_origin = {v: k for k, v in data_dirs.items()}
        rel = by_origin.get(str(folder))
        if rel is None:
            rel = f"data/{folder.name}"
            while rel in data_dirs:
                rel += "_"
            data_dirs[rel] = str(folder)
        tail = f"/{prefix}" if prefix else "/"
        return f'"{PROJECT_TOKEN}/{rel}{tail}"'

    return _LITERAL.sub(sub, text)


def _dest(src: Path, rtl_dir: Path) -> str:
    if src.is_relative_to(rtl_dir):
        rel = src.relative_to(rtl_dir).as_posix()
        return "rtl/" + rel.replace("cache/", "", 1) if rel.startswith("cache/") else "rtl/" + rel
    return f"rtl/exitflow/{src.name}"


def _ps_setup(spec: BoardSpec, clock_mhz: float) -> dict[str, str]:
    if spec.ps == "processing_system7":
        setup = (
            "apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 -config "
            '{make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" '
            'Slave "Disable"} [get_bd_cells ps]\n'
            "set_property -dict [list CONFIG.PCW_USE_M_AXI_GP0 {1} CONFIG.PCW_USE_S_AXI_HP0 {1} "
            f"CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {{{clock_mhz:g}}}] [get_bd_cells ps]"
        )
        return {"PS_SETUP": setup, "PS_CLK": "FCLK_CLK0", "PS_RESETN": "FCLK_RESET0_N",
                "PS_ACLKS": "ps/M_AXI_GP0_ACLK ps/S_AXI_HP0_ACLK", "PS_MASTER": "M_AXI_GP0",
                "PS_SLAVE": "S_AXI_HP0", "DMA_ADDR": "32"}  # fmt: skip
    setup = (
        "apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config "
        '{apply_board_preset "1"} [get_bd_cells ps]\n'
        "set_property -dict [list CONFIG.PSU__USE__M_AXI_GP0 {1} CONFIG.PSU__USE__M_AXI_GP1 {0} "
        "CONFIG.PSU__USE__M_AXI_GP2 {0} CONFIG.PSU__USE__S_AXI_GP2 {1} "
        f"CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {{{clock_mhz:g}}}] [get_bd_cells ps]"
    )
    return {"PS_SETUP": setup, "PS_CLK": "pl_clk0", "PS_RESETN": "pl_resetn0",
            "PS_ACLKS": "ps/maxihpm0_fpd_aclk ps/saxihp0_fpd_aclk", "PS_MASTER": "M_AXI_HPM0_FPD",
            "PS_SLAVE": "S_AXI_HP0_FPD", "DMA_ADDR": "64"}  # fmt: skip


def _tcl_list(items: list[str]) -> str:
    for s in items:
        if re.search(r"[\s{}\[\]$\\\"]", s):
            raise ConfigError(f"path {s!r} has a character the Tcl script cannot quote: rename it")
    return " ".join(items)


def generate_project(
    design: Any,
    board: Board | str,
    out_dir: str | Path,
    *,
    clock_mhz: float | None = None,
    versions: tuple[str, ...] = SUPPORTED_VIVADO,
) -> VivadoProject:
    """Write the project directory `out_dir` for `design` (an exitflow.hw.top.TopDesign).

    board: the target (hw.boards table); clock_mhz: the fabric clock (default: the board's);
    versions: the Vivado versions the script accepts (a subset of SUPPORTED_VIVADO).
    """
    spec = board_spec(board)
    bad = [v for v in versions if v not in SUPPORTED_VIVADO]
    if bad or not versions:
        raise ConfigError(
            f"Vivado {', '.join(bad) or '(none)'}: exitflow writes projects for Vivado "
            f"{' or '.join(SUPPORTED_VIVADO)} only (the versions finn-plus 1.6.1 supports)"
        )
    clock = float(clock_mhz or spec.clock_mhz)
    out = Path(out_dir).resolve()
    if out.exists():
        shutil.rmtree(out)
    rtl_dir = Path(design.rtl_dir).resolve()
    data_dirs: dict[str, str] = {}
    sources: list[dict[str, str]] = []
    seen: dict[str, Path] = {}
    for src in design.sources:
        src = Path(src).resolve()
        rel = _dest(src, rtl_dir)
        if rel in seen and seen[rel] != src:
            raise ConfigError(f"two sources map to {rel}: {seen[rel]} and {src}")
        seen[rel] = src
        write_text(out / rel, _relocate(src.read_text(), data_dirs))
        sources.append({"path": rel, "sha256": sha256_file(out / rel), "origin": str(src)})
    shell = ShellSpec(design.name, design.input.width, design.output.width)
    rel = f"rtl/{shell.module}.v"
    write_text(out / rel, shell_verilog(shell))
    sources.append({"path": rel, "sha256": sha256_file(out / rel), "origin": "generated"})
    data_files = []
    for rel_dir, origin in sorted(data_dirs.items()):
        for f in sorted(Path(origin).iterdir()):
            if f.is_file() and f.suffix == ".dat":
                (out / rel_dir).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, out / rel_dir / f.name)
                data_files.append({"path": f"{rel_dir}/{f.name}",
                                   "sha256": sha256_file(f), "origin": str(f)})  # fmt: skip
    write_text(out / "constraints" / "exitflow.xdc", _XDC)
    proj = VivadoProject(
        dir=out, design=re.sub(r"\W", "_", design.plan.design), board=spec.name, part=spec.part,
        board_part=spec.board_part, ps=spec.ps, top=design.name, shell=shell.module,
        clock_mhz=clock, versions=list(versions), in_width=design.input.width,
        out_width=design.output.width, dma_in=shell.dma_in, dma_out=shell.dma_out,
        sources=sources, data_files=data_files, data_dirs=data_dirs,
    )  # fmt: skip
    write_text(out / SCRIPT, _script(proj, spec))
    write_json(out / "project.json", proj.to_dict())
    write_text(out / "README.md", _readme(proj))
    log.info("wrote the Vivado project of %s for %s under %s", proj.top, spec.name, out)
    return proj


def _script(proj: VivadoProject, spec: BoardSpec) -> str:
    vendor_board = ":".join(spec.board_part.split(":")[:3])
    fill = {
        "DESIGN": proj.design, "BOARD": proj.board, "PART": proj.part, "PS": proj.ps,
        "EXITFLOW_VERSION": __version__, "VERSIONS": " ".join(proj.versions),
        "VERSIONS_TEXT": " or ".join(proj.versions), "CLOCK_MHZ": f"{proj.clock_mhz:g}",
        "PROJECT": f"{proj.design}_{re.sub(r'[^A-Za-z0-9]', '', proj.board).lower()}",
        "BOARD_PART": spec.board_part, "BOARD_PATTERN": f"{vendor_board}:*",
        "PROJECT_TOKEN": PROJECT_TOKEN, "SHELL": proj.shell,
        "SOURCES": _tcl_list([s["path"] for s in proj.sources]),
        "DMA_IN": str(proj.dma_in), "DMA_OUT": str(proj.dma_out),
        "DMA_MM_IN": str(max(32, proj.dma_in)), "DMA_MM_OUT": str(max(32, proj.dma_out)),
        **_ps_setup(spec, proj.clock_mhz),
    }  # fmt: skip
    text = _TEMPLATE.read_text()
    for key, value in fill.items():
        text = text.replace(f"@{key}@", value)
    left = set(re.findall(r"@[A-Z_]+@", text)) - {PROJECT_TOKEN}
    if left:
        raise ConfigError(f"the Tcl template has unfilled placeholders {sorted(left)}")
    return text


def materialise(project_dir: str | Path, dest: str | Path) -> list[Path]:
    """What the Tcl script does with the sources, in Python: copies under `dest` with the data
    token replaced by the project's folder. Returns the files in compile order."""
    proj = VivadoProject.load(project_dir)
    root = str(Path(project_dir).resolve())
    files = []
    for s in proj.sources:
        text = (proj.dir / s["path"]).read_text().replace(PROJECT_TOKEN, root)
        files.append(write_text(Path(dest) / s["path"], text))
    return files


_XDC = """# exitflow: constraints of the accelerator's block design.
# The fabric clock comes from the processing system (its IP constrains it: no create_clock
# here); the accelerator has no package pins. Compress the bitstream (smaller .bit, faster
# download on the board).
set_property BITSTREAM.GENERAL.COMPRESS TRUE [current_design]
"""


def _readme(p: VivadoProject) -> str:
    return f"""# Vivado project: {p.design} on {p.board}

Generated by exitflow {__version__} (`exitflow bitstream`); regenerate rather than edit.

- Part `{p.part}`, board files `{p.board_part}` (the newest installed version of that board is
  used), processing system `{p.ps}`, fabric clock {p.clock_mhz:g} MHz from the PS.
- Written for Vivado {" or ".join(p.versions)} (the versions finn-plus 1.6.1 supports); the script
  stops with a message under any other version.
- Top: `{p.shell}` (rtl/{p.shell}.v, a Verilog shell for the block design) around the generated
  `{p.top}`. Input stream {p.in_width} bits in a {p.dma_in}-bit DMA word, records
  {p.out_width} bits in a {p.dma_out}-bit word; TLAST after every PACKET_RECORDS-th record
  (AXI-Lite 0x800).

## Build

```
vivado -mode batch -source create_project.tcl                        # output/{p.design}.bit, .hwh
vivado -mode batch -source create_project.tcl -tclargs project_only  # the project only
```
Options after `-tclargs`: `board_repo=<folder>` (board files not in Vivado's store), `jobs=<n>`.
Outputs: `output/{p.design}.bit`, `.hwh`, `.xsa`, `utilization.rpt`, `timing.rpt`.

## Contents

- `rtl/`: every source, as the Verilator co-simulation compiled them (finn-rtllib with
  exitflow's Verilator patches, which change no behaviour; each partition's FINN layers;
  exitflow's blocks under `rtl/exitflow/`; the generated top). Data-file paths in them read
  `{PROJECT_TOKEN}/data/...`; the script writes copies with this folder's path into
  `vivado/src/` and compiles those. `project.json` lists each file's SHA-256 and origin.
- `data/`: the weight and threshold memories the FINN layers load.
- `constraints/exitflow.xdc`.
"""
