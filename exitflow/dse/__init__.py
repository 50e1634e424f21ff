"""Design-space exploration of a gated early-exit design (docs/dse.md).

Searches, for one board's budget (or a throughput target at the least resources), which exits to
keep, their thresholds (points of the calibrated trade-off curve within an accuracy constraint),
per-partition folding (FINN's own, at per-stage targets, raised where FINN stops short) and
conditional-buffer depths, on FINN's estimates (corrected by yosys where a build has them) and
the simulator's throughput on the validation exits; compares with the single-exit baseline the
same search finds at the same budget. Importing it loads no FINN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exitflow.core.lazy import lazy_exports

_EXPORTS = {
    "DseConfig": "exitflow.dse.config",
    "Objective": "exitflow.dse.config",
    "BoundError": "exitflow.dse.evaluate",
    "SearchResult": "exitflow.dse.search",
    "search": "exitflow.dse.search",
    "load_inputs": "exitflow.dse.inputs",
    "run_dse": "exitflow.dse.run",
}
__all__ = [
    "BoundError",
    "DseConfig",
    "Objective",
    "SearchResult",
    "load_inputs",
    "run_dse",
    "search",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover
    from exitflow.dse.config import DseConfig, Objective
    from exitflow.dse.evaluate import BoundError
    from exitflow.dse.inputs import load_inputs
    from exitflow.dse.run import run_dse
    from exitflow.dse.search import SearchResult, search
