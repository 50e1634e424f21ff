"""Check a generated Vivado project without Vivado: its Tcl run under tclsh with stub commands.

`dry_run(project_dir)` sources create_project.tcl in tclsh with tcl/stub.tcl standing in for
every Vivado command it uses (any other command fails), records each call, and checks:
- the script asks for Vivado's version first and refuses one it was not written for
  (`version=` runs it under another version: it must stop with the message);
- the project's part and board files are the board table's, and its processing-system IP is the
  one of the part's family;
- every file it adds exists; every source in project.json is added (as the copy the script
  writes), equal to the source with the data token replaced; every data file is there with its
  hash; the block design's module reference is a module of an added file;
- every pin it names exists: on the accelerator, as a port or interface of the shell (parsed
  from the file); on Vivado IP, in the pin table below (smartconnect ports from its NUM_SI/MI);
  every interface pin is in one connection at most; every required pin is connected;
- the shell connects every port of the generated top, and nothing else (parsed from the top);
- the DMA's stream widths are the shell's, the PS clock the project's;
- the script leaves output/<design>.bit and .hwh (Vivado's files are stubbed as empty files).

`check_board_table()` checks every board of exitflow.hw.boards: part vs PS family vs board file,
and the part against finn-plus's own table for the same board.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exitflow.core.errors import ToolMissingError
from exitflow.hw.boards import BOARDS, board_spec
from exitflow.hw.vivado.project import PROJECT_TOKEN, SCRIPT, VivadoProject, sha256_file
from exitflow.hw.vivado.shell import instance_connections, parse_interfaces, parse_ports

__all__ = ["DryRunReport", "check_board_table", "dry_run"]

log = logging.getLogger(__name__)

STUB = Path(__file__).resolve().parent / "tcl" / "stub.tcl"

# pins of the Vivado IP the script uses: (net pins, interface pins, pins that must be connected)
_PINS: dict[str, tuple[set[str], set[str], set[str]]] = {
    "processing_system7": (
        {"FCLK_CLK0", "FCLK_RESET0_N", "M_AXI_GP0_ACLK", "S_AXI_HP0_ACLK", "IRQ_F2P"},
        {"M_AXI_GP0", "S_AXI_HP0", "DDR", "FIXED_IO"},
        {"M_AXI_GP0_ACLK", "S_AXI_HP0_ACLK", "M_AXI_GP0", "S_AXI_HP0"},
    ),
    "zynq_ultra_ps_e": (
        {"pl_clk0", "pl_resetn0", "maxihpm0_fpd_aclk", "saxihp0_fpd_aclk", "pl_ps_irq0"},
        {"M_AXI_HPM0_FPD", "S_AXI_HP0_FPD"},
        {"maxihpm0_fpd_aclk", "saxihp0_fpd_aclk", "M_AXI_HPM0_FPD", "S_AXI_HP0_FPD"},
    ),
    "axi_dma": (
        {"s_axi_lite_aclk", "m_axi_mm2s_aclk", "m_axi_s2mm_aclk", "axi_resetn", "mm2s_introut",
         "s2mm_introut"},
        {"S_AXI_LITE", "M_AXI_MM2S", "M_AXI_S2MM", "M_AXIS_MM2S", "S_AXIS_S2MM"},
        {"s_axi_lite_aclk", "m_axi_mm2s_aclk", "m_axi_s2mm_aclk", "axi_resetn", "S_AXI_LITE",
         "M_AXI_MM2S", "M_AXI_S2MM", "M_AXIS_MM2S", "S_AXIS_S2MM"},
    ),
    "proc_sys_reset": (
        {"slowest_sync_clk", "ext_reset_in", "aux_reset_in", "mb_debug_sys_rst", "dcm_locked",
         "mb_reset", "bus_struct_reset", "peripheral_reset", "interconnect_aresetn",
         "peripheral_aresetn"},
        set(),
        {"slowest_sync_clk", "ext_reset_in"},
    ),
}  # fmt: skip
_ACCEL_REQUIRED = {"ap_clk", "ap_rst_n", "s_axis_in", "m_axis_out", "s_axilite"}


@dataclass
class DryRunReport:
    """What a dry run of one project found; `ok` when there are no problems."""

    project_dir: Path
    board: str
    version: str
    ok: bool = False
    refused: bool = False  # the script stopped at its version check
    error: str | None = None  # the Tcl error the script stopped with, if any
    problems: list[str] = field(default_factory=list)
    calls: int = 0
    files_added: int = 0
    cells: dict[str, str] = field(default_factory=dict)
    connections: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        head = "ok" if self.ok else f"{len(self.problems)} problem(s)"
        return (
            f"{self.board} (Vivado {self.version}): {head}; {self.calls} Vivado calls, "
            f"{self.files_added} files, {len(self.cells)} cells, {self.connections} connections"
        )


def _records(log_file: Path) -> list[list[str]]:
    return [line.split("\t") for line in log_file.read_text().splitlines() if line]


def dry_run(
    project_dir: str | Path,
    *,
    tclsh: str | Path | None = None,
    version: str | None = None,
    board_files: str = "1.0",
    tclargs: tuple[str, ...] = (),
    timeout: float = 120.0,
) -> DryRunReport:
    """Run `project_dir`'s create_project.tcl under tclsh with stub Vivado commands and check it.

    tclsh: the interpreter (default: `tclsh` on PATH; ToolMissingError when there is none).
    version: what the stub's `version -short` answers (default: the first version the project
    was written for). board_files: the installed board-file version the stub reports, or "none".
    """
    proj = VivadoProject.load(project_dir)
    root = proj.dir.resolve()
    version = version or proj.versions[0]
    exe = str(tclsh) if tclsh else shutil.which("tclsh")
    if not exe:
        raise ToolMissingError(
            "tclsh is not installed: the dry run of the Vivado script needs it. Fix: "
            "apt-get install tcl (or pass tclsh=/path/to/tclsh)"
        )
    rep = DryRunReport(root, proj.board, version)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="exitflow-dryrun-") as tmp:
        # run on a copy: the script writes vivado/ and output/ beside itself
        work = Path(tmp) / "project"
        shutil.copytree(root, work, ignore=shutil.ignore_patterns("vivado", "output"))
        log_file = Path(tmp) / "calls.log"
        cmd = [exe, str(STUB), str(log_file), version, board_files, str(work / SCRIPT), *tclargs]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        recs = _records(log_file) if log_file.is_file() else []
        if not recs:
            rep.problems.append(f"tclsh produced no record (rc {proc.returncode}): {proc.stderr}")
        _check(rep, proj, work, recs, "project_only" in tclargs)
    rep.seconds = time.monotonic() - t0
    rep.ok = not rep.problems
    log.info("dry run %s", rep.summary())
    return rep


def _check(rep: DryRunReport, proj: VivadoProject, work: Path, recs: list[list[str]],
           project_only: bool) -> None:  # fmt: skip
    p = rep.problems
    calls = [r[1:] for r in recs if r[0] == "call"]
    rep.calls = len(calls)
    errors = [r[1] for r in recs if r[0] == "error"]
    rep.error = errors[0] if errors else None
    if not calls or calls[0][0] != "version":
        p.append("the script does not ask for Vivado's version before its first other command")
    if rep.version not in proj.versions:
        rep.refused = bool(rep.error and "written for Vivado" in rep.error)
        if not rep.refused:
            p.append(f"the script did not refuse Vivado {rep.version}")
        if len(calls) > 1:
            p.append(f"the script went on after refusing Vivado {rep.version}: {calls[1][0]}")
        return
    if rep.error:
        p.append(f"the script stopped with an error: {rep.error}")
    for r in recs:
        if r[0] == "unknown":
            p.append(f"the script calls {r[1]!r}, a command the dry run does not model")
    spec = board_spec(proj.board)
    _check_project(p, proj, spec, recs)
    _check_files(rep, proj, work, recs)
    _check_design(rep, proj, work, recs)
    if not project_only:
        for name in (f"{proj.design}.bit", f"{proj.design}.hwh"):
            if not (work / "output" / name).is_file():
                p.append(f"the script does not leave output/{name}")
    if not any(r[0] == "done" for r in recs) and not rep.error:
        p.append("the script did not run to its end")


def _check_project(p: list[str], proj: VivadoProject, spec: Any, recs: list[list[str]]) -> None:
    projects = [r for r in recs if r[0] == "project"]
    if len(projects) != 1:
        p.append(f"expected one create_project, found {len(projects)}")
    elif projects[0][3] != spec.part:
        p.append(f"project part {projects[0][3]} is not {spec.name}'s {spec.part}")
    bps = [r[3] for r in recs if r[0] == "prop" and r[1] == "project" and r[2] == "board_part"]
    want = ":".join(spec.board_part.split(":")[:3])
    if not bps or any(":".join(b.split(":")[:3]) != want for b in bps):
        p.append(f"board part {bps or 'not set'} is not {spec.name}'s {want}:<version>")
    for problem in _board_problems(spec):
        p.append(problem)


def _check_files(rep: DryRunReport, proj: VivadoProject, work: Path, recs: list[list[str]]) -> None:
    p = rep.problems
    added = {r[1]: r[2] == "1" for r in recs if r[0] == "file"}
    rep.files_added = len(added)
    p += [f"the script adds {f}, which does not exist" for f, ok in added.items() if not ok]
    for s in proj.sources:
        copy = work / "vivado" / "src" / s["path"]
        if not (work / s["path"]).is_file():
            p.append(f"source {s['path']} is missing from the project folder")
            continue
        if str(copy) not in added:
            p.append(f"source {s['path']} is not added to the project")
            continue
        want = (work / s["path"]).read_text().replace(PROJECT_TOKEN, str(work))
        if copy.read_text() != want:
            p.append(f"the script's copy of {s['path']} differs from the source")
        if sha256_file(work / s["path"]) != s["sha256"]:
            p.append(f"{s['path']} does not match its hash in project.json")
        if PROJECT_TOKEN in copy.read_text():
            p.append(f"{s['path']}: the data token is left in the compiled copy")
    for d in proj.data_files:
        f = work / d["path"]
        if not f.is_file() or sha256_file(f) != d["sha256"]:
            p.append(f"data file {d['path']} is missing or changed")
    for s in proj.sources:  # every data path a source names must be a copied file
        if not (work / s["path"]).is_file():
            continue
        text = (work / s["path"]).read_text()
        for rel in re.findall(re.escape(PROJECT_TOKEN) + r'/([^"]+)"', text):
            folder, prefix = rel.rsplit("/", 1)
            if not any(f.name.startswith(prefix) for f in (work / folder).glob("*")):
                p.append(f"{s['path']} reads {rel}, which the project does not have")


def _check_design(
    rep: DryRunReport, proj: VivadoProject, work: Path, recs: list[list[str]]
) -> None:
    p = rep.problems
    cells = {r[1]: (r[2], r[3]) for r in recs if r[0] == "cell"}
    shell_text = (work / "rtl" / f"{proj.shell}.v").read_text()
    shell_ports = parse_ports(shell_text, proj.shell)
    shell_intfs = parse_interfaces(shell_text)
    kinds: dict[str, str] = {}
    for name, (kind, what) in cells.items():
        if kind == "module":
            kinds[name] = "accel"
            if what != proj.shell:
                p.append(f"cell {name} references module {what}, not the shell {proj.shell}")
        else:
            ip = what.split(":")[2] if what.count(":") >= 3 else what
            kinds[name] = ip
            if ip not in _PINS and ip != "smartconnect":
                p.append(f"cell {name} is IP {ip}, which the dry run does not know")
    rep.cells = dict(kinds)
    ps_cells = [n for n, k in kinds.items() if k in ("processing_system7", "zynq_ultra_ps_e")]
    if [kinds[n] for n in ps_cells] != [proj.ps]:
        p.append(f"processing system cells {ps_cells} are not one {proj.ps}")
    props = {(r[1], r[2]): r[3] for r in recs if r[0] == "prop"}

    def pins_of(cell: str, kind: str) -> tuple[set[str], set[str], set[str]]:
        if kind == "accel":
            return set(shell_ports), shell_intfs, _ACCEL_REQUIRED
        if kind == "smartconnect":
            si = int(props.get((cell, "CONFIG.NUM_SI"), 1))
            mi = int(props.get((cell, "CONFIG.NUM_MI"), 1))
            intf = {f"S{i:02d}_AXI" for i in range(si)} | {f"M{i:02d}_AXI" for i in range(mi)}
            return {"aclk", "aresetn"}, intf, intf | {"aclk", "aresetn"}
        return _PINS.get(kind, (set(), set(), set()))

    for r in recs:
        if r[0] == "pin":
            cell, _, pin = r[2].partition("/")
            if cell not in kinds:
                p.append(f"pin {r[2]}: no cell {cell}")
                continue
            net_pins, intf_pins, _ = pins_of(cell, kinds[cell])
            if pin not in (net_pins if r[1] == "net" else intf_pins):
                p.append(f"{r[1]} pin {r[2]} does not exist on {kinds[cell]}")
    nets = [r[1:] for r in recs if r[0] == "net"]
    rep.connections = len(nets)
    connected = {pin for n in nets for pin in n[1:]}
    for n in nets:
        if len(n) < 3:
            p.append(f"a {n[0]} connection with one pin: {n[1:]}")
    intf_use = Counter(pin for n in nets if n[0] == "intf" for pin in n[1:])
    p += [f"interface {pin} is connected {k} times" for pin, k in intf_use.items() if k > 1]
    for cell, kind in kinds.items():
        for pin in sorted(pins_of(cell, kind)[2]):
            if f"{cell}/{pin}" not in connected:
                p.append(f"{cell}/{pin} ({kind}) is not connected")
    for r in recs:
        if r[0] == "automation" and r[2] not in ps_cells:
            p.append(f"board automation {r[1]} applied to {r[2]}, not the PS")
    _check_widths(p, proj, props, kinds, shell_ports)
    _check_top(p, proj, work, shell_text)


def _check_widths(p: list[str], proj: VivadoProject, props: dict[tuple[str, str], str],
                  kinds: dict[str, str], shell_ports: dict[str, Any]) -> None:  # fmt: skip
    dma = [c for c, k in kinds.items() if k == "axi_dma"]
    for c in dma:
        for key, port in (("c_m_axis_mm2s_tdata_width", "s_axis_in_tdata"),
                          ("c_s_axis_s2mm_tdata_width", "m_axis_out_tdata")):  # fmt: skip
            got = props.get((c, f"CONFIG.{key}"))
            if got is None or int(got) != shell_ports[port].width:
                p.append(f"{c} {key} {got} is not the shell's {port} width "
                         f"{shell_ports[port].width}")  # fmt: skip
    key = "PCW_FPGA0_PERIPHERAL_FREQMHZ" if proj.ps == "processing_system7" else (
        "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ")  # fmt: skip
    ps = [c for c, k in kinds.items() if k == proj.ps]
    got = props.get((ps[0], f"CONFIG.{key}")) if ps else None
    if got is None or float(got) != proj.clock_mhz:
        p.append(f"PS fabric clock {key} = {got}, not the project's {proj.clock_mhz:g} MHz")


def _check_top(p: list[str], proj: VivadoProject, work: Path, shell_text: str) -> None:
    top_src = next((s for s in proj.sources if Path(s["path"]).stem == proj.top), None)
    if top_src is None:
        p.append(f"the generated top {proj.top} is not among the sources")
        return
    top_ports = parse_ports((work / top_src["path"]).read_text(), proj.top)
    conns = instance_connections(shell_text, proj.top)
    for name in sorted(set(top_ports) - set(conns)):
        p.append(f"the shell leaves port {name} of {proj.top} unconnected")
    for name in sorted(set(conns) - set(top_ports)):
        p.append(f"the shell connects {name}, which {proj.top} does not have")
    if top_ports.get("in_tdata") and top_ports["in_tdata"].width != proj.in_width:
        p.append(f"{proj.top}'s in_tdata is {top_ports['in_tdata'].width} bits, "
                 f"project.json says {proj.in_width}")  # fmt: skip
    if top_ports.get("out_tdata") and top_ports["out_tdata"].width != proj.out_width:
        p.append(f"{proj.top}'s out_tdata is {top_ports['out_tdata'].width} bits, "
                 f"project.json says {proj.out_width}")  # fmt: skip


def _board_problems(spec: Any) -> list[str]:
    out = []
    fam = "zynq7" if spec.part.startswith("xc7z") else "zynq_us+"
    if not (spec.part.startswith(("xc7z", "xczu", "xck26"))):
        out.append(f"{spec.name}: part {spec.part} is not a Zynq-7000 or Zynq UltraScale+")
    if spec.family != fam or (spec.ps == "processing_system7") != (fam == "zynq7"):
        out.append(f"{spec.name}: part {spec.part} does not go with PS {spec.ps}")
    fields = spec.board_part.split(":")
    if len(fields) != 4 or fields[2] != "part0":
        out.append(f"{spec.name}: board part {spec.board_part!r} is not vendor:board:part0:version")
    elif re.sub(r"[^a-z0-9]", "", fields[1]) != re.sub(r"[^a-z0-9]", "", spec.name.lower()):
        out.append(f"{spec.name}: board part {spec.board_part} names another board")
    limit = 250.0 if fam == "zynq7" else 333.0  # PS fabric clock limits (FCLK / PL_CLK)
    if not 10.0 <= spec.clock_mhz <= limit:
        out.append(f"{spec.name}: clock {spec.clock_mhz:g} MHz outside what the PS gives")
    return out


def check_board_table() -> list[str]:
    """Problems of the board table (empty when consistent): part vs PS vs board file, and each
    part against finn-plus's own table for the same board (when finn-plus is installed)."""
    try:
        from finn.util.basic import pynq_part_map
    except ImportError:  # pragma: no cover - finn-plus is a dependency
        pynq_part_map = {}
    out = []
    for spec in BOARDS.values():
        out += _board_problems(spec)
        finn_part = pynq_part_map.get(spec.finn_board)
        if pynq_part_map and finn_part != spec.part:
            out.append(f"{spec.name}: part {spec.part}, finn-plus says {finn_part}")
    return out
