"""exitflow's training side: datasets, brevitas multi-exit CNNs, QAT, calibration, export.

The public API is below; modules not named here are internals. `import exitflow.quant` stays light:
torch and brevitas are imported when a name that needs them is first used. The numpy-only pieces
shared with the simulator (policies, fixed point, outputs) live in `exitflow.core`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exitflow.core.lazy import lazy_exports

_EXPORTS = {
    "DatasetConfig": "exitflow.quant.config",
    "ModelConfig": "exitflow.quant.config",
    "TrainConfig": "exitflow.quant.config",
    "PolicyConfig": "exitflow.quant.config",
    "load_splits": "exitflow.quant.data",
    "build_model": "exitflow.quant.model",
    "MultiExitNet": "exitflow.quant.model",
    "load_model": "exitflow.quant.checkpoint",
    "fit": "exitflow.quant.train",
    "compute_outputs": "exitflow.quant.infer",
    "calibrate": "exitflow.quant.calibrate",
    "tradeoff_curve": "exitflow.quant.calibrate",
    "evaluate": "exitflow.quant.evaluate",
    "export_model": "exitflow.quant.export",
    "check_qonnx_parity": "exitflow.quant.parity",
    "check_full_model": "exitflow.quant.parity",
}
__all__ = [
    "DatasetConfig",
    "ModelConfig",
    "MultiExitNet",
    "PolicyConfig",
    "TrainConfig",
    "build_model",
    "calibrate",
    "check_full_model",
    "check_qonnx_parity",
    "compute_outputs",
    "evaluate",
    "export_model",
    "fit",
    "load_model",
    "load_splits",
    "tradeoff_curve",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from exitflow.quant.calibrate import calibrate, tradeoff_curve
    from exitflow.quant.checkpoint import load_model
    from exitflow.quant.config import DatasetConfig, ModelConfig, PolicyConfig, TrainConfig
    from exitflow.quant.data import load_splits
    from exitflow.quant.evaluate import evaluate
    from exitflow.quant.export import export_model
    from exitflow.quant.infer import compute_outputs
    from exitflow.quant.model import MultiExitNet, build_model
    from exitflow.quant.parity import check_full_model, check_qonnx_parity
    from exitflow.quant.train import fit
