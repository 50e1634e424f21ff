"""One FINN partition in RTL under Verilator, checked word by word against FINN's python mode.

`check_partition` takes a partition model (the generic HW graph FINN's
step_create_dataflow_partition leaves, or an already specialised one), specialises every layer
that has a FINN RTL variant to it (MVAUs to MVAU_rtl, DSP-based), runs FINN's HDL generation
(no Vivado needed), stitches the layers into one SystemVerilog top (exitflow.hw.tools.finn_rtl),
simulates real inputs through it under random back-pressure and compares every output element
with FINN python-mode execution of the same graph: a rung of the verification ladder.

Layers without RTL (max-pool: FINN has it in HLS only) are reported, never skipped silently:
with `allow_cut`, the graph is cut before the first of them and the covered part is checked.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from exitflow.core.errors import PrerequisiteError, VerificationError
from exitflow.hw.flow import finn_compat, steps, verify
from exitflow.hw.tools.finn_rtl import RTL_OPS, pack_stream, stitch, uncovered, unpack_stream
from exitflow.hw.tools.rtllib import finn_rtllib_source, patched_rtllib
from exitflow.hw.tools.stream import build_model
from exitflow.hw.tools.verilator import Verilator

__all__ = ["RtlCheck", "check_partition", "cut_before_uncovered", "specialise_for_rtl"]

log = logging.getLogger(__name__)

# hw.steps from specialisation to HDL generation (the ones that run without Xilinx tools)
_RTL_STEPS = (
    "step_specialize_layers",
    "step_set_folding",
    "step_minimize_bit_width",
    "step_insert_dwc_fifo",
    "step_annotate_cycles",
    "step_hw_codegen",
)


@dataclass
class RtlCheck:
    """Outcome of one partition check (also JSON-able via `to_dict`)."""

    partition: str
    covered: list[str]
    not_covered: list[str]
    samples: int
    elements: int
    mismatches: int
    cycles: int
    build_s: float
    sim_s: float
    cycles_per_frame: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def specialise_for_rtl(
    model: ModelWrapper,
    name: str,
    fpgapart: str,
    clk_ns: float,
    work_dir: Path,
    target_cycles: int | None = None,
) -> ModelWrapper:
    """Specialise a generic HW partition graph to FINN's RTL layers and generate their HDL.

    Runs hw.steps from step_specialize_layers to step_hw_codegen with mvau_style "dsp" (FINN's
    RTL MVU; the LUT MVU exists in HLS only). An already specialised graph is returned as is.
    FINN's generated code goes under `work_dir/finn` (hw.finn_compat.init_finn points FINN's
    process-wide settings there, as every exitflow build does).
    """
    if finn_compat.is_specialised(model):
        return model
    finn_compat.init_finn(Path(work_dir) / "finn")
    cfg = steps.PartitionCfg(
        name=name,
        kind="stage",
        fpgapart=fpgapart,
        clk_ns=clk_ns,
        target_cycles=target_cycles,
        mvau_style="dsp",
        work_dir=Path(work_dir),
    )
    from exitflow.hw.ops.maxpool import ConvertMaxPoolToExitflowRTL  # registers Pool_rtl

    by_name = {s.name: s for s in steps.STEPS}
    for step in _RTL_STEPS:
        model = by_name[step].fn(model, cfg)
        if step == "step_set_folding":
            # after folding: SetFolding sets a max-pool's PE together with its SWG's SIMD
            model = model.transform(ConvertMaxPoolToExitflowRTL())
    return model


def cut_before_uncovered(model: ModelWrapper) -> tuple[ModelWrapper, list[str]]:
    """The graph up to (not including) the first node without RTL, and what was cut away.

    Nodes are kept in graph (topological) order until the first uncovered one; the cut graph's
    outputs are the kept tensors that removed nodes read or that were graph outputs.
    """
    nodes = list(model.graph.node)
    first = next((i for i, n in enumerate(nodes) if n.op_type not in RTL_OPS), len(nodes))
    if first == len(nodes):
        return model, []
    if first == 0:
        raise PrerequisiteError(
            f"The partition starts with {nodes[0].name} ({nodes[0].op_type}), which has no RTL "
            "simulation yet: nothing to simulate. Fix: add its RTL (exitflow's own ops) first."
        )
    kept, dropped = nodes[:first], nodes[first:]
    produced = {t for n in kept for t in n.output}
    graph_outs = {o.name for o in model.graph.output}
    read_later = {t for n in dropped for t in n.input}
    cut = [t for n in kept for t in n.output if t in read_later or t in graph_outs]
    out = ModelWrapper(copy.deepcopy(model.model))
    for node in list(out.graph.node)[first:]:
        out.graph.node.remove(node)
    while out.graph.output:
        out.graph.output.pop()
    for t in cut:
        vi = helper.make_tensor_value_info(t, TensorProto.FLOAT, out.get_tensor_shape(t))
        for old in [v for v in out.graph.value_info if v.name == t]:
            out.graph.value_info.remove(old)  # a graph output must not also be a value_info
        out.graph.output.append(vi)
    assert set(cut) <= produced
    return out, [f"{n.name} ({n.op_type})" for n in dropped]


def _stream_io(model: ModelWrapper, tensor: str, consumer: bool) -> tuple[int, int, bool]:
    """(bits per element, elements per word, signed) of `tensor` at its consumer or producer."""
    if consumer:
        node = model.find_consumer(tensor)
        inst = getCustomOp(node)
        idx = list(node.input).index(tensor)
        dt, folded = inst.get_input_datatype(idx), inst.get_folded_input_shape(idx)
    else:
        node = model.find_producer(tensor)
        inst = getCustomOp(node)
        idx = list(node.output).index(tensor)
        dt, folded = inst.get_output_datatype(idx), inst.get_folded_output_shape(idx)
    return dt.bitwidth(), int(folded[-1]), dt.signed()


def check_partition(
    model: ModelWrapper,
    name: str,
    inputs: list[np.ndarray],
    work_dir: Path,
    *,
    fpgapart: str = "xc7z020clg400-1",
    clk_ns: float = 10.0,
    target_cycles: int | None = None,
    allow_cut: bool = False,
    backpressure: float = 0.3,
    seed: int = 0,
    verilator: Verilator | None = None,
    jobs: int = 1,
) -> RtlCheck:
    """Simulate `inputs` (per graph input, [N, ...] in the model's layout) through the RTL.

    Raises VerificationError if any output element differs from FINN python mode, and
    PrerequisiteError if a layer has no RTL simulation and `allow_cut` is False.
    """
    work_dir = Path(work_dir).resolve()
    model = specialise_for_rtl(model, name, fpgapart, clk_ns, work_dir, target_cycles)
    missing = uncovered(model)
    if missing and not allow_cut:
        raise PrerequisiteError(
            f"{name}: not yet covered by RTL simulation: {', '.join(missing)} (FINN has these in "
            "HLS only; exitflow's RTL versions are not in yet). Fix: pass allow_cut=True to "
            "check the layers before them."
        )
    sub, dropped = cut_before_uncovered(model)
    if dropped:
        log.warning("%s: RTL simulation stops before %s (no RTL yet)", name, ", ".join(dropped))
    installed, _ = finn_rtllib_source()
    top = stitch(sub, f"{name}_top", patched_rtllib(work_dir / "cache"), installed)
    top_file = work_dir / f"{top.name}.sv"
    top_file.write_text(top.text)
    model_rtl = build_model(
        top.name,
        [*top.sources, top_file],
        inputs=top.inputs,
        outputs=top.outputs,
        workdir=work_dir / "verilator",
        verilator=verilator,
        jobs=jobs,
    )
    n = int(inputs[0].shape[0])
    feed = {}
    for port, tensor, arr in zip(top.inputs, top.input_tensors, inputs):
        bits, per_word, _ = _stream_io(sub, tensor, consumer=True)
        feed[port.name] = pack_stream(arr, bits, per_word)
    expect = {}
    out_fmt = []
    for port, tensor in zip(top.outputs, top.output_tensors):
        bits, per_word, signed = _stream_io(sub, tensor, consumer=False)
        elems = int(np.prod(sub.get_tensor_shape(tensor)[1:]))
        expect[port.name] = n * elems // per_word
        out_fmt.append((bits, per_word, signed, elems))
    run = model_rtl.run(feed, expect=expect, backpressure=backpressure, seed=seed)
    want = verify.run(sub, [a.astype(np.float32) for a in inputs])
    bad = elements = 0
    for k, (port, (bits, per_word, signed, elems)) in enumerate(zip(top.outputs, out_fmt)):
        got = unpack_stream(run.outputs[port.name], bits, per_word, signed).reshape(n, elems)
        ref = np.asarray(want[k]).reshape(n, elems)
        if not np.array_equal(ref, np.rint(ref)):
            raise VerificationError(f"{name}: python-mode output {port.name} is not integer.")
        diff = got != ref.astype(np.int64)
        bad += int(diff.sum())
        elements += diff.size
    result = RtlCheck(
        partition=name,
        covered=top.nodes,
        not_covered=dropped,
        samples=n,
        elements=elements,
        mismatches=bad,
        cycles=run.cycles,
        build_s=round(model_rtl.build_s, 2),
        sim_s=round(run.wall_s, 3),
        cycles_per_frame=run.cycles / n,
        extra={"cached_build": model_rtl.cached, "backpressure": backpressure},
    )
    if bad:
        raise VerificationError(
            f"{name}: RTL (Verilator) and FINN python mode differ in {bad} of {elements} output "
            f"elements over {n} samples. Fix: inspect {top_file} and the layers {top.nodes}."
        )
    log.info("%s: RTL matches python mode: %s", name, result.to_dict())
    return result
