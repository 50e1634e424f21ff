"""The build steps of one dataflow partition, in order, FINN style: `step_x(model, cfg) -> model`.

Each step calls FINN (finn-plus) transforms directly instead of FINN's builder (which redirects
stdout and reads the environment). The flow (hw.flow.builder) runs them for every partition, writes a
checkpoint after each one, and verifies each step's output by python-mode execution. Steps that
need Vitis HLS or Vivado name the tool in `Step.requires`; without it the flow stops before them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.fold_constants import FoldConstants
from qonnx.transformation.general import (
    GiveReadableTensorNames,
    GiveUniqueNodeNames,
    RemoveStaticGraphInputs,
    RemoveUnusedTensors,
)
from qonnx.transformation.infer_data_layouts import InferDataLayouts
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul
from qonnx.util.cleanup import cleanup_model

from exitflow.core.errors import ConfigError
from exitflow.hw.flow import finn_compat, folding
from exitflow.hw.flow.transforms import (
    LAYOUT_KEY,
    SCALE_KEY,
    AbsorbTransposeFlattenIntoMatMul,
    CancelTransposesAtOutput,
    MakeChannelsLast,
    RemoveInputReshape,
    StripOutputScale,
    unmapped_nodes,
)
from exitflow.hw.ops.exit_decision import op as decision_op

# importing it registers Pool_rtl with qonnx, before any checkpoint that holds one is loaded
from exitflow.hw.ops.maxpool import ConvertMaxPoolToExitflowRTL

log = logging.getLogger(__name__)


class UnsupportedLayerError(ConfigError):
    """A layer of the exported model has no FINN HW mapping."""


@dataclass
class PartitionCfg:
    """What the steps need to know about one partition."""

    name: str
    kind: str  # "stage", "head" or "decision"
    fpgapart: str
    clk_ns: float
    target_cycles: int | None = None  # folding target; None: leave folding as it is
    overrides: dict[str, dict[str, int]] = field(default_factory=dict)  # node -> {attr: value}
    work_dir: Path = Path(".")
    vitis_hls: Path | None = None
    vivado: Path | None = None
    mvau_style: str = "dsp"  # "lut": MVAU_hls with LUT multipliers, "dsp": FINN's RTL MVU
    inner_fifos: str = "none"  # "sized": FIFOs between layers sized in Verilator (hw.inner_fifos)


StepFn = Callable[[ModelWrapper, PartitionCfg], ModelWrapper]


@dataclass(frozen=True)
class Step:
    """A named build step; `requires` names the Xilinx tools it runs."""

    name: str
    fn: StepFn
    requires: tuple[str, ...] = ()


def _tidy(model: ModelWrapper) -> ModelWrapper:
    for trn in (
        InferShapes(),
        FoldConstants(),
        GiveUniqueNodeNames(),
        GiveReadableTensorNames(),
        InferDataTypes(),
        RemoveStaticGraphInputs(),
    ):
        model = model.transform(trn)
    return model


def step_qonnx_to_finn(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """QONNX cleanup, Quant nodes to MultiThreshold (ConvertQONNXtoFINN), tidy-up."""
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN

    if decision_op.is_custom_decision(model):
        return model
    quant_ops = {"Quant", "BipolarQuant", "Trunc"}
    if any(n.op_type in quant_ops for n in model.graph.node):
        model = cleanup_model(model)
        model = model.transform(ConvertQONNXtoFINN())
    return _tidy(model)


def step_channels_last(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """NHWC stream interfaces: 4D inputs/outputs transposed at the graph edge (absorbed later)."""
    if decision_op.is_custom_decision(model):
        return model
    return model.transform(MakeChannelsLast())


def step_streamline(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """Streamline, lower convs and max-pools to NHWC, integer outputs (scale leaves the graph).

    Deliberately not run: FINN's AbsorbScalarMulAddIntoTopK (silently corrupted forked graphs,
    docs/toolchain.md) and MoveLinearPastFork (no forks inside a partition: each stage and
    head is its own graph, the fork between them is exitflow's glue).
    """
    import finn.transformation.streamline.absorb as absorb
    from finn.transformation.streamline.reorder import MakeMaxPoolNHWC

    if decision_op.is_custom_decision(model) or model.get_metadata_prop("exitflow_generated"):
        return model
    model = model.transform(absorb.AbsorbScalarBiasIntoMultiThreshold())
    model = model.transform(finn_compat.StreamlineKeepingInputType())
    if model.get_nodes_by_op_type("Conv"):
        model = model.transform(LowerConvsToMatMul())
    model = model.transform(MakeMaxPoolNHWC())
    model = model.transform(absorb.AbsorbTransposeIntoMultiThreshold())
    model = model.transform(MakeMaxPoolNHWC())
    model = model.transform(CancelTransposesAtOutput())
    model = model.transform(absorb.AbsorbConsecutiveTransposes())
    model = model.transform(finn_compat.StreamlineKeepingInputType())
    model = model.transform(StripOutputScale())
    model = model.transform(CancelTransposesAtOutput())
    model = model.transform(absorb.AbsorbConsecutiveTransposes())
    model = model.transform(AbsorbTransposeFlattenIntoMatMul())
    model = model.transform(RemoveInputReshape())
    model = model.transform(InferDataLayouts())
    return model.transform(RemoveUnusedTensors())


def step_convert_to_hw(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """Map layers to FINN HW layers (standalone thresholds, as finn-plus's default)."""
    from finn.transformation.fpgadataflow.convert_to_hw import (
        conv_inp_gen,
        duplicate_streams,
        pool,
        quantized_matrix_vector_activation,
        thresholding,
    )
    from finn.transformation.move_reshape import RemoveCNVtoFCFlatten
    from finn.transformation.streamline.absorb import AbsorbConsecutiveTransposes

    if decision_op.is_custom_decision(model):
        return model
    for trn in (
        thresholding.InferThresholdingLayer(),
        quantized_matrix_vector_activation.InferQuantizedMatrixVectorActivation(),
        pool.InferPool(),
        conv_inp_gen.InferConvInpGen(),
        RemoveCNVtoFCFlatten(),
        duplicate_streams.InferDuplicateStreamsLayer(),
        AbsorbConsecutiveTransposes(),
        RemoveCNVtoFCFlatten(),
        GiveUniqueNodeNames(),
        InferDataLayouts(),
        InferDataTypes(),
        InferShapes(),
    ):
        model = model.transform(trn)
    left = unmapped_nodes(model)
    if left:
        raise UnsupportedLayerError(
            f"{cfg.name}: no FINN HW layer for {', '.join(left)}. exitflow maps quantised "
            "Conv (no bias, stride 1) + BatchNorm + QuantReLU, 2x2/kxk MaxPool and bias-free "
            "QuantLinear; change that layer in the model config (model.stages / model.exits) "
            "or quantise it (a float op cannot go to the FPGA)"
        )
    return model


def _minimize(model: ModelWrapper) -> ModelWrapper:
    from finn.transformation.fpgadataflow.minimize_accumulator_width import (
        MinimizeAccumulatorWidth,
    )
    from finn.transformation.fpgadataflow.minimize_weight_bit_width import MinimizeWeightBitWidth
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds

    for trn in (
        MinimizeWeightBitWidth(),
        MinimizeAccumulatorWidth(),
        InferDataTypes(),
        RoundAndClipThresholds(),
        InferDataTypes(),
        MinimizeWeightBitWidth(),
        finn_compat.WidenBinaryMvauWeights(),
        InferDataTypes(),
    ):
        model = model.transform(trn)
    return model


def step_minimize_bit_width_initial(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """Tighten weight/accumulator widths and round thresholds before specialisation."""
    if decision_op.is_custom_decision(model):
        return model
    return _minimize(model)


def step_create_dataflow_partition(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """Wrap the HW layers into one StreamingDataflowPartition and continue with its model."""
    from finn.transformation.fpgadataflow.create_dataflow_partition import (
        CreateDataflowPartition,
    )

    if decision_op.is_custom_decision(model):
        return model
    if model.get_nodes_by_op_type("StreamingDataflowPartition") == [] and all(
        n.domain.startswith("finn.custom_op.fpgadataflow") for n in model.graph.node
    ):
        part_dir = cfg.work_dir / "partition"
        part_dir.mkdir(parents=True, exist_ok=True)
        parent = model.transform(CreateDataflowPartition(partition_model_dir=str(part_dir)))
        others = [n.op_type for n in parent.graph.node if n.op_type != "StreamingDataflowPartition"]
        sdps = parent.get_nodes_by_op_type("StreamingDataflowPartition")
        if len(sdps) != 1 or others:
            raise UnsupportedLayerError(
                f"{cfg.name}: expected one dataflow partition and nothing in software, got "
                f"{len(sdps)} partitions and software nodes {others}"
            )
        inner = ModelWrapper(getCustomOp(sdps[0]).get_nodeattr("model"))
        for key in (LAYOUT_KEY, SCALE_KEY):
            if model.get_metadata_prop(key) is not None:
                inner.set_metadata_prop(key, model.get_metadata_prop(key))
        return inner
    return model


def step_specialize_layers(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """Choose the HLS or RTL variant of every HW layer for the board's part (MVAUs: hw.mvau_style)."""
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    if decision_op.is_custom_decision(model):
        return model
    style = {"lut": "hls", "dsp": "rtl"}[cfg.mvau_style]
    for node in model.get_nodes_by_op_type("MVAU"):
        getCustomOp(node).set_nodeattr("preferred_impl_style", style)
    model = model.transform(SpecializeLayers(cfg.fpgapart))
    for node in model.get_nodes_by_op_type("MVAU_hls"):
        getCustomOp(node).set_nodeattr("resType", cfg.mvau_style)
    for trn in (GiveUniqueNodeNames(), InferShapes(), InferDataTypes()):
        model = model.transform(trn)
    return model


def step_set_folding(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """PE/SIMD for the partition's target cycles per frame, then the user's overrides (checked)."""
    if decision_op.is_custom_decision(model):
        return model
    return folding.fold(model, cfg.name, cfg.target_cycles, cfg.overrides)


def step_minimize_bit_width(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """Tighten widths again for the chosen implementation and folding."""
    if decision_op.is_custom_decision(model):
        return model
    return _minimize(model)


def step_insert_dwc_fifo(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """Max-pools to exitflow's Pool_rtl, then data width converters and FIFOs.

    The max-pool swap comes after folding: FINN's SetFolding sets a Pool_hls's PE together with
    the SIMD of the depthwise window generator feeding it, and knows no Pool_rtl.
    """
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    if decision_op.is_custom_decision(model):
        return model
    for trn in (
        ConvertMaxPoolToExitflowRTL(),
        InsertDWC(),
        InsertFIFO(create_shallow_fifos=False),
        SpecializeLayers(cfg.fpgapart),
        GiveUniqueNodeNames(),
        InferShapes(),
        InferDataTypes(),
    ):
        model = model.transform(trn)
    return model


def step_annotate_cycles(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """FINN's analytical cycles per layer, stored on each node (cycles_estimate)."""
    from finn.transformation.fpgadataflow.annotate_cycles import AnnotateCycles

    if decision_op.is_custom_decision(model):
        return model
    return model.transform(AnnotateCycles())


def step_hw_codegen(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """HLS C++ and RTL wrappers for every layer (PrepareIP); ours: the decision unit's wrapper."""
    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP

    if decision_op.is_custom_decision(model):
        return decision_op.write_wrapper(model, cfg.work_dir / "codegen", cfg.name)
    return model.transform(PrepareIP(cfg.fpgapart, cfg.clk_ns))


def step_size_inner_fifos(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """hw.inner_fifos "sized": FIFOs between the layers, as deep as a Verilator run with deep
    ones filled them at the partition's own rate (hw.flow.inner_fifos); "none": unchanged.

    After step_hw_codegen, not before, so that the checkpoints of builds without it keep their
    numbers; the generated top reads this step's checkpoint (hw.top.plan)."""
    # decision units: one layer or two, nothing bursty to decouple
    if cfg.inner_fifos == "none" or cfg.kind == "decision" or decision_op.is_custom_decision(model):
        return model
    from exitflow.hw.flow.inner_fifos import size_inner_fifos

    return size_inner_fifos(model, cfg.fpgapart, cfg.clk_ns, cfg.work_dir / "inner_fifos")


def step_hw_ipgen(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """Vitis HLS synthesis of the HLS layers into IP blocks."""
    from finn.transformation.fpgadataflow.hlssynth_ip import HLSSynthIP
    from finn.transformation.fpgadataflow.replace_verilog_relpaths import ReplaceVerilogRelPaths

    if decision_op.is_custom_decision(model):
        return model
    model = model.transform(HLSSynthIP(cfg.fpgapart))
    return model.transform(ReplaceVerilogRelPaths())


def step_create_stitched_ip(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """One Vivado IP per partition: its layers stitched with AXI-stream interfaces."""
    from finn.transformation.fpgadataflow.create_stitched_ip import CreateStitchedIP

    if decision_op.is_custom_decision(model):
        return model
    return model.transform(CreateStitchedIP(cfg.fpgapart, cfg.clk_ns, ip_name=cfg.name))


def step_synth_ooc(model: ModelWrapper, cfg: PartitionCfg) -> ModelWrapper:
    """Out-of-context synthesis and place & route of the partition (post-synthesis resources)."""
    from finn.transformation.fpgadataflow.synth_ooc import SynthOutOfContext

    if decision_op.is_custom_decision(model):
        return model
    return model.transform(SynthOutOfContext(cfg.fpgapart, cfg.clk_ns))


STEPS: list[Step] = [
    Step("step_qonnx_to_finn", step_qonnx_to_finn),
    Step("step_channels_last", step_channels_last),
    Step("step_streamline", step_streamline),
    Step("step_convert_to_hw", step_convert_to_hw),
    Step("step_minimize_bit_width_initial", step_minimize_bit_width_initial),
    Step("step_create_dataflow_partition", step_create_dataflow_partition),
    Step("step_specialize_layers", step_specialize_layers),
    Step("step_set_folding", step_set_folding),
    Step("step_minimize_bit_width", step_minimize_bit_width),
    Step("step_insert_dwc_fifo", step_insert_dwc_fifo),
    Step("step_annotate_cycles", step_annotate_cycles),
    Step("step_hw_codegen", step_hw_codegen),
    Step("step_size_inner_fifos", step_size_inner_fifos),
    Step("step_hw_ipgen", step_hw_ipgen, requires=("vitis_hls",)),
    Step("step_create_stitched_ip", step_create_stitched_ip, requires=("vivado",)),
    Step("step_synth_ooc", step_synth_ooc, requires=("vivado",)),
]
STEP_NAMES = [s.name for s in STEPS]
# The last step whose model is the plain (unspecialised) HW graph: the 1,000-image parity point.
PARITY_STEP = "step_create_dataflow_partition"
