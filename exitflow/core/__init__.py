"""exitflow's numpy-only contract, shared by quant (training), hw (hardware) and sim (simulator).

Nothing here imports torch, FINN or matplotlib: a board's own Python (numpy 1.x) and the simulator
can use it. It holds the exit policies' integer semantics (policies, and one rule object per policy
kind in rules), the fixed-point lattice, the per-sample outputs format, the hardware description's
schema (hwdesc), the typed-config machinery, atomic file writes, progress reporting, enums and
the error classes with their exit codes.
"""

# the contract's modules (`from exitflow.core import policies`)
__all__ = [
    "errors",
    "files",
    "fixedpoint",
    "hwdesc",
    "hwdesc_load",
    "kinds",
    "lazy",
    "outputs",
    "policies",
    "progress",
    "rules",
    "schema",
]
