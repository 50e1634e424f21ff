"""Every finn-plus workaround in one place (finn-plus 1.6.1, qonnx 1.0.0).

This is also the one module that touches FINN's environment: FINN reads its build directory and
worker count from a global settings object (and child processes rebuild it from FINN_BUILD_DIR /
NUM_DEFAULT_WORKERS), so `init_finn` sets both from explicit arguments. Nothing else in exitflow
reads or writes os.environ for FINN.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path

from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes

log = logging.getLogger(__name__)

FINN_VERSION = "1.6.1"
_SPECIALISED_DOMAINS = ("finn.custom_op.fpgadataflow.hls", "finn.custom_op.fpgadataflow.rtl")


def init_finn(build_dir: Path, workers: int = 1) -> Path:
    """Point FINN at `build_dir` for generated code; returns the directory.

    Why: finn-plus 1.6.1 raises "Could not find global settings" from every transform that
    creates files (make_build_dir) unless `finn.util.settings` holds a FINNSettings object, and
    `initialize_dummy_settings()` resolves the build dir relative to the current directory and
    writes ~/.finn/settings.yaml. We build the object ourselves with an explicit directory and no
    settings file, and export FINN_BUILD_DIR/NUM_DEFAULT_WORKERS because FINN's worker processes
    (spawn/forkserver) rebuild their settings from those two variables.
    """
    from finn.interface.settings import FINNSettings
    from finn.util import settings

    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    obj = FINNSettings.init(
        override_settings_path=build_dir / "finn_settings.yaml",  # absent on purpose: defaults
        flow_config=build_dir / "flow.yaml",
        auto_set_environment_vars=False,
        finn_build_dir=str(build_dir),
    )
    obj.num_default_workers = workers
    settings._SETTINGS = obj
    os.environ["FINN_BUILD_DIR"] = str(build_dir)
    os.environ["NUM_DEFAULT_WORKERS"] = str(workers)
    return build_dir


def vivado_env(vivado: Path | None, vitis_hls: Path | None) -> None:
    """Export XILINX_VIVADO / XILINX_HLS for FINN's IP generation and synthesis transforms.

    Why: finn-plus 1.6.1 finds Vivado and Vitis HLS through these variables (and PATH), not
    through arguments; the paths come from RunContext.tools (resolved once by the CLI).
    """
    for var, exe in (("XILINX_VIVADO", vivado), ("XILINX_HLS", vitis_hls)):
        if exe is not None:
            os.environ[var] = str(Path(exe).resolve().parent.parent)
            bindir = str(Path(exe).resolve().parent)
            if bindir not in os.environ.get("PATH", "").split(os.pathsep):
                os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


class StreamlineKeepingInputType(Transformation):
    """FINN's `Streamline`, then the graph input's integer datatype restored and re-streamlined.

    Why: finn-plus 1.6.1 `MoveMulPastMaxPool` (run inside `Streamline`) re-annotates the tensor
    it moves a Mul onto as FLOAT32 even when it is the graph input (reorder.py, "rewire mul input
    to be maxpool input"). An exit head (input scale Mul, then MaxPool) thus loses its UINT input
    annotation, its MatMul becomes a float MatMul and never maps to an MVAU. A second pass after
    restoring the annotation lets the scales move on and be absorbed.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        from finn.transformation.streamline import Streamline

        types = {i.name: model.get_tensor_datatype(i.name) for i in model.graph.input}
        model = model.transform(Streamline())
        lost = [
            n for n, dt in types.items() if model.get_tensor_datatype(n) != dt and dt.is_integer()
        ]
        if lost:
            for name in lost:
                model.set_tensor_datatype(name, types[name])
            model = model.transform(InferDataTypes())
            model = model.transform(Streamline())
            log.debug("restored input datatype of %s after Streamline", lost)
        return model, False


def despecialized(model: ModelWrapper) -> ModelWrapper:
    """A copy of `model` with every X_hls / X_rtl node turned back into the generic HW op X.

    Why: in finn-plus 1.6.1 specialised nodes execute only in cppsim (Vitis HLS headers) or
    rtlsim (Vivado xsim), neither of which exists without Xilinx tools. The generic op keeps the
    same weights, thresholds, datatypes and folding attributes and runs in python mode, so the
    parameters a later step changed (RoundAndClipThresholds, MinimizeAccumulatorWidth) are still
    checked by execution. Implementation-only attributes stay on the node and are ignored.
    """
    out = ModelWrapper(copy.deepcopy(model.model))
    for node in out.graph.node:
        if node.domain in _SPECIALISED_DOMAINS:
            node.domain = "finn.custom_op.fpgadataflow"
            node.op_type = node.op_type.rsplit("_", 1)[0]
    return out


def is_specialised(model: ModelWrapper) -> bool:
    """True if any node is an HLS/RTL variant (execute via `despecialized`)."""
    return any(n.domain in _SPECIALISED_DOMAINS for n in model.graph.node)


def pin_input_datatype(model: ModelWrapper, name: str, dtype: DataType) -> ModelWrapper:
    """Annotate tensor `name` with `dtype` and propagate (used after transforms that drop it)."""
    model.set_tensor_datatype(name, dtype)
    return model.transform(InferDataTypes())


class WidenBinaryMvauWeights(Transformation):
    """Re-type MVAU weights that MinimizeWeightBitWidth narrowed to BINARY (all 0/1) as UINT2.

    Why: finn-plus 1.6.1 MVAU_hls code generation raises "True binary (non-bipolar) inputs not
    yet supported" for BINARY weights or inputs (matrixvectoractivation_hls.py,
    get_template_param_values), while MinimizeWeightBitWidth picks BINARY for any 0/1 matrix,
    such as the ones-weight counters of FINN-primitive decision units. One extra weight bit.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        from qonnx.custom_op.registry import getCustomOp

        changed = False
        for node in model.graph.node:
            if not node.op_type.startswith("MVAU"):
                continue
            inst = getCustomOp(node)
            if inst.get_nodeattr("weightDataType") == "BINARY":
                inst.set_nodeattr("weightDataType", "UINT2")
                model.set_tensor_datatype(node.input[1], DataType["UINT2"])
                changed = True
        return model, changed
