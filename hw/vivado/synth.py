"""yosys `synth_xilinx` of a Vivado project's own sources (the files Vivado will compile).

`synthesise_project(project_dir, workdir)` writes the sources as the Tcl script does (data
paths resolved to the project's data/), and synthesises the shell (the block design's cell: the
generated top plus its DMA/TLAST adapter) with exitflow.hw.tools.synth_rtl for the board's
family: `xc7` on Zynq-7000, `xcup` on Zynq UltraScale+. This checks, without Vivado, that the
very files of the project elaborate and synthesise, and gives resource counts to compare with
FINN's estimates and, later, Vivado's utilisation report.
"""

from __future__ import annotations

import logging
from pathlib import Path

from exitflow.hw.tools.synth_rtl import synthesise_top
from exitflow.hw.tools.yosys import SynthResult, Yosys, find_yosys
from exitflow.hw.vivado.project import VivadoProject, materialise

__all__ = ["synthesise_project"]

log = logging.getLogger(__name__)


def synthesise_project(
    project_dir: str | Path,
    workdir: str | Path,
    *,
    yosys: Yosys | None = None,
    timeout: float | None = None,
) -> SynthResult:
    """Synthesise the project's shell from its own sources (ToolMissingError without a yosys
    that reads SystemVerilog; SimulationError naming yosys's errors when a source fails)."""
    proj = VivadoProject.load(project_dir)
    work = Path(workdir).resolve()
    files = materialise(proj.dir, work / "src")
    family = "xc7" if proj.ps == "processing_system7" else "xcup"
    tool = yosys or find_yosys()
    res = synthesise_top(files, proj.shell, work, tool, family=family, timeout=timeout)
    log.info("yosys synth_xilinx -family %s of %s: %s", family, proj.shell, res.resources())
    return res
