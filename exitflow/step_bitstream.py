"""The `bitstream` step: the Vivado project of the generated top, its bitstream, the deploy package.

1. generate the whole accelerator's RTL top from build/ (exitflow.hw.top, into build/rtl as
   the cosim step does: the same files the Verilator co-simulation compiles);
2. write the Vivado project for hw.board (exitflow.hw.vivado) under bitstream/project/;
3. check its Tcl script with the dry run (tclsh and stub Vivado commands; skipped with a
   warning when tclsh is absent); a script that fails it is a VerificationError;
4. with Vivado (--vivado or XILINX_VIVADO, versions 2022.2/2024.2): run it to the .bit/.hwh;
5. write the deploy package bitstream/package/ (exitflow.deploy): .bit/.hwh when built, driver,
   manifest.json, README. Publish it to bitstreams/<board>/<design>/ with
   `exitflow.deploy.publish` (the Makefile's `bitstream` target does).
Without Vivado, steps 1-3 and 5 run and the step ends with ToolMissingError (exit 4) naming the
versions and how to point exitflow at Vivado; the project and package stay for inspection.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from exitflow.core.errors import ToolMissingError, VerificationError
from exitflow.run import Run
from exitflow.steps import STEPS

__all__ = ["BitstreamResult", "bitstream", "step_bitstream"]

log = logging.getLogger(__name__)


@dataclass
class BitstreamResult:
    """bitstream: `path` is the package's manifest.json; `bit` None when Vivado did not run."""

    path: Path
    project: Path | None = None
    bit: Path | None = None
    board: str = ""
    dry_run_ok: bool | None = None  # None: tclsh absent, not checked
    vivado_version: str | None = None


def bitstream(run: Run) -> BitstreamResult:
    """Write bitstream/project and bitstream/package; build the .bit where Vivado is."""
    from exitflow.deploy import write_package
    from exitflow.hw.top import generate_top
    from exitflow.hw.vivado import dry_run, generate_project, run_vivado
    from exitflow.hw.vivado.run import missing_vivado

    lay, hw = run.layout, run.cfg.hw
    design = generate_top(run.run_dir)
    project = generate_project(design, hw.board, lay.bitstream_project, clock_mhz=hw.clock_mhz)
    ok: bool | None = None
    if shutil.which("tclsh"):
        rep = dry_run(project.dir)
        ok = rep.ok
        if not rep.ok:
            raise VerificationError(
                f"the generated Vivado script fails its dry run ({rep.summary()}): "
                + "; ".join(rep.problems[:5])
                + ". This is a bug in exitflow's project generator: please report it"
            )
    else:
        log.warning("tclsh not found: the Vivado script is not dry-run (apt-get install tcl)")
    version = None
    missing: ToolMissingError | None = None
    if run.tools.vivado is None:
        missing = missing_vivado(project.versions)
    else:
        version = run_vivado(project, run.tools.vivado).version
    pkg = write_package(run.run_dir, project, lay.bitstream_package, rtl_dir=design.rtl_dir)
    if missing is not None:
        log.info("wrote %s and %s (no bitstream)", project.dir, pkg.dir)
        raise missing
    return BitstreamResult(pkg.manifest, project.dir, pkg.bit, project.board, ok, version)


step_bitstream = STEPS["bitstream"]
