"""Run a generated project's Tcl script in Vivado batch mode (where Vivado is installed)."""

from __future__ import annotations

import logging
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from exitflow.core.errors import ConfigError, SimulationError, ToolMissingError
from exitflow.hw.vivado.project import SCRIPT, SUPPORTED_VIVADO, VivadoProject

__all__ = ["VivadoResult", "missing_vivado", "run_vivado", "vivado_version"]

log = logging.getLogger(__name__)


@dataclass
class VivadoResult:
    """A finished Vivado run: the bitstream, hardware handoff and reports under output/."""

    bit: Path
    hwh: Path
    utilization: Path
    timing: Path
    log: Path
    version: str


def missing_vivado(versions: list[str] | tuple[str, ...] = SUPPORTED_VIVADO) -> ToolMissingError:
    """The error for a missing Vivado: the versions and how to point exitflow at one."""
    return ToolMissingError(
        f"Vivado is not installed (or not found): the bitstream needs Vivado "
        f"{' or '.join(versions)} (the versions finn-plus 1.6.1 supports). The project is "
        "written; fix: pass --vivado /path/to/Vivado/<version>/bin/vivado, or set XILINX_VIVADO "
        "to the Vivado folder (or put vivado on PATH), and rerun `exitflow bitstream`; or run "
        f"`vivado -mode batch -source {SCRIPT}` in the project folder on a machine that has it"
    )


def vivado_version(vivado: Path) -> str:
    """The version `vivado -version` reports, as 'YYYY.N'."""
    out = subprocess.run([str(vivado), "-version"], capture_output=True, text=True, timeout=300)
    m = re.search(r"v(20\d\d\.\d)", out.stdout + out.stderr)
    if not m:
        raise ToolMissingError(f"{vivado} did not report a version: is it Vivado?")
    return m.group(1)


def run_vivado(
    project: VivadoProject, vivado: Path | None, *, jobs: int = 2, timeout: float | None = None
) -> VivadoResult:
    """Run `project`'s script with `vivado` to output/<design>.bit and .hwh.

    ToolMissingError when `vivado` is None; ConfigError for a version the script was not
    written for (checked before starting it, the script checks again); SimulationError (exit 7
    family) when Vivado fails, naming its log."""
    if vivado is None:
        raise missing_vivado(project.versions)
    version = vivado_version(vivado)
    if version not in project.versions:
        raise ConfigError(
            f"{vivado} is Vivado {version}; the project was written for Vivado "
            f"{' or '.join(project.versions)} (the versions finn-plus 1.6.1 supports). Fix: "
            "pass --vivado with one of those, or set XILINX_VIVADO"
        )
    log_file = project.dir / "vivado.log"
    cmd = [str(vivado), "-mode", "batch", "-notrace", "-source", SCRIPT, "-log", str(log_file),
           "-journal", str(project.dir / "vivado.jou"), "-tclargs", f"jobs={jobs}"]  # fmt: skip
    log.info("running Vivado %s on %s (this takes minutes to hours)", version, project.dir)
    proc = subprocess.run(cmd, cwd=project.dir, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not project.bit.is_file() or not project.hwh.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise SimulationError(
            f"Vivado failed on {project.dir} (exit {proc.returncode}); see {log_file}:\n{tail}"
        )
    out = project.dir / "output"
    return VivadoResult(project.bit, project.hwh, out / "utilization.rpt", out / "timing.rpt",
                        log_file, version)  # fmt: skip
