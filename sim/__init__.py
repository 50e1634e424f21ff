"""exitflow's cycle-level simulator of the gated early-exit dataflow (numpy only: no torch, FINN
or matplotlib at import).

The public API is below; modules not named here are internals (the engines' row solvers,
counters and processes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exitflow.core.lazy import lazy_exports

_EXPORTS = {
    "SimConfig": "exitflow.sim.config",
    "load_hwdesc": "exitflow.sim.hwdesc",
    "model_from_hwdesc": "exitflow.sim.design",
    "Model": "exitflow.sim.model",
    "simulate": "exitflow.sim.run",
    "RunResult": "exitflow.sim.result",
    "run_simulation": "exitflow.sim.pipeline",
    "size_buffers": "exitflow.sim.sizing",
    "never_exit": "exitflow.sim.decisions",
    "throughput_fps": "exitflow.sim.analysis",
    "headline": "exitflow.sim.analysis",
    "DeadlockError": "exitflow.sim.errors",
    "BufferOverflowError": "exitflow.sim.errors",
    "ExitMismatchError": "exitflow.sim.errors",
}
__all__ = [
    "BufferOverflowError",
    "DeadlockError",
    "ExitMismatchError",
    "Model",
    "RunResult",
    "SimConfig",
    "headline",
    "load_hwdesc",
    "model_from_hwdesc",
    "never_exit",
    "run_simulation",
    "simulate",
    "size_buffers",
    "throughput_fps",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from exitflow.sim.analysis import headline, throughput_fps
    from exitflow.sim.config import SimConfig
    from exitflow.sim.decisions import never_exit
    from exitflow.sim.design import model_from_hwdesc
    from exitflow.sim.errors import BufferOverflowError, DeadlockError, ExitMismatchError
    from exitflow.sim.hwdesc import load_hwdesc
    from exitflow.sim.model import Model
    from exitflow.sim.pipeline import run_simulation
    from exitflow.sim.result import RunResult
    from exitflow.sim.run import simulate
    from exitflow.sim.sizing import size_buffers
