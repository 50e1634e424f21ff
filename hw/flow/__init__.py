"""The FINN (finn-plus) build flow of exitflow's partitions.

`steps` (the named build steps, each a qonnx graph rewrite sequence), `builder` (runs the steps
per partition with checkpoints and verification by execution), `transforms` (exitflow's graph
rewrites), `finn_compat` (the one place that meets finn-plus's settings and environment),
`folding`, `verify` (python-mode execution against quant's reference), `design` (the partitions
of a gated design from quant's export), `decision` (decision units from FINN primitives),
`compose` (the composed design checked against quant), `baseline` (the single-exit design at
the same budget) and `estimates` (FINN's analytical cycles and resources per partition).
"""

__all__ = [
    "baseline",
    "builder",
    "compose",
    "decision",
    "design",
    "estimates",
    "finn_compat",
    "folding",
    "steps",
    "transforms",
    "verify",
]
