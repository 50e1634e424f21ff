"""The Vivado project of a generated top on a board, and its check without Vivado.

`generate_project(design, board, out_dir)` writes a self-contained project directory (sources,
data files, Verilog shell, constraints, Tcl script, project.json, README); `run_vivado` runs its
script in batch mode to a .bit and .hwh; `dry_run(project_dir)` runs the script under tclsh with
stub Vivado commands and checks files, ports and the board (DryRunReport);
`check_board_table()` checks the board table. docs/boards.md.
"""

from exitflow.hw.vivado.dryrun import DryRunReport, check_board_table, dry_run
from exitflow.hw.vivado.project import (
    SUPPORTED_VIVADO,
    VivadoProject,
    generate_project,
    materialise,
)
from exitflow.hw.vivado.run import VivadoResult, run_vivado, vivado_version

__all__ = [
    "SUPPORTED_VIVADO",
    "DryRunReport",
    "VivadoProject",
    "VivadoResult",
    "check_board_table",
    "dry_run",
    "generate_project",
    "materialise",
    "run_vivado",
    "vivado_version",
]
