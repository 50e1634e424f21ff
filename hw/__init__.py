"""exitflow's hardware side: FINN (finn-plus) builds of every stage, exit head and decision unit
(hw.flow), exitflow's own RTL blocks (hw.ops), RTL simulation and synthesis drivers (hw.tools).

The public API is below; `import exitflow.hw` stays light: FINN is imported when a name that
needs it is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exitflow.core.lazy import lazy_exports

_EXPORTS = {
    "HwConfig": "exitflow.hw.config",
    "Board": "exitflow.hw.config",
    "board_spec": "exitflow.hw.boards",
    "run_build": "exitflow.hw.build",
    "build_hwdesc": "exitflow.hw.hwdesc",
}
__all__ = [
    "Board",
    "HwConfig",
    "board_spec",
    "build_hwdesc",
    "run_build",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from exitflow.hw.boards import board_spec
    from exitflow.hw.build import run_build
    from exitflow.hw.config import Board, HwConfig
    from exitflow.hw.hwdesc import build_hwdesc
