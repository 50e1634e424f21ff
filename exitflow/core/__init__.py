"""exitflow's numpy-only contract, shared by quant (training), hw (hardware) and sim (simulator).

Nothing here imports torch, FINN or matplotlib: a board's own Python (numpy 1.x) and the simulator
can use it. It holds the exit policies' integer semantics, the fixed-point lattice, the per-sample
outputs format, the typed-config machinery, atomic file writes, progress reporting and enums.
"""

__all__ = ["files", "fixedpoint", "kinds", "outputs", "policies", "progress", "schema"]
