"""FIFOs between a partition's layers, sized by a Verilator simulation (hw.inner_fifos: sized).

Why: step_insert_dwc_fifo inserts no FIFO inside a partition (FINN's own sizing needs Vivado's
xsim), and FINN's RTL layers are bursty: a window generator stalls its input while it emits,
width converters pass words in groups, MVUs take a row of words and then think. Coupled by
depth-2 handshakes they stall each other, and fmnist3's stage2 ran at 54,579 cycles per frame
where its slowest layer alone takes 31,360 (docs/rtl.md, "Inner FIFOs").

The sizing is FINN's "largefifo" idea in Verilator: a copy of the partition with a DEEP FIFO on
every inner edge runs with saturated input (its cycles per frame, `ii`); the same model then runs
with its input paced at `ii`, and each FIFO gets the largest occupancy it reached there. Pacing
matters: with saturated input a FIFO in front of the slowest layer fills to any depth (backlog,
not burst), while at the partition's own rate the occupancy is what the bursts need.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from exitflow.core.errors import PrerequisiteError, SimulationError
from exitflow.hw.tools.finn_rtl import stitch, uncovered
from exitflow.hw.tools.rtllib import finn_rtllib_source, patched_rtllib
from exitflow.hw.tools.stream import StreamPort, build_model

__all__ = ["DEEP", "SIZING_KEY", "FifoRun", "inner_edges", "run_partition", "size_inner_fifos",
           "with_fifos"]  # fmt: skip

log = logging.getLogger(__name__)

DEEP = 8192  # fmnist3 stage2's deepest paced occupancy was 1,406 words
FRAMES = 4  # three steady-state intervals
SETTLE = 10_000  # as hw.top.measure: FINN's layers stall their input for a while after reset
SIZING_KEY = "exitflow_inner_fifos"  # metadata: the sizing run's cycles and depths (JSON)


@dataclass
class FifoRun:
    """One saturated (or paced) run of a partition: cycles per frame and FIFO occupancies."""

    cycles_per_frame: int
    max_occupancy: dict[str, int]  # inner edge (the FIFO's input tensor) -> words


def inner_edges(model: ModelWrapper) -> list[str]:
    """Tensors written by one layer and read by another (where an inner FIFO can go)."""
    return [
        t
        for n in model.graph.node
        for t in n.output
        if model.find_consumer(t) is not None and not _is_fifo(model.find_consumer(t))
    ]


def _is_fifo(node: Any) -> bool:
    return node.op_type.startswith("StreamingFIFO")


def with_fifos(model: ModelWrapper, depths: dict[str, int], fpgapart: str) -> ModelWrapper:
    """A copy of `model` with a StreamingFIFO_rtl of depths[t] on each inner edge t (none where
    the depth is 2 or less: a layer's own output handshake already holds that much)."""
    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    out = ModelWrapper(copy.deepcopy(model.model))
    for node in out.graph.node:
        if any(t in depths for t in node.output):
            inst = getCustomOp(node)
            old = list(inst.get_nodeattr("outFIFODepths"))
            new = [int(depths.get(t, d)) for t, d in zip(node.output, old, strict=False)]
            inst.set_nodeattr("outFIFODepths", new)
    # InsertFIFO takes max(producer's out, consumer's in) and the consumer's stays 2
    for trn in (InsertFIFO(create_shallow_fifos=False), SpecializeLayers(fpgapart),
                GiveUniqueNodeNames(), InferShapes(), InferDataTypes()):  # fmt: skip
        out = out.transform(trn)
    return out


def _beats(model: ModelWrapper, tensor: str, consumer: bool) -> int:
    node = model.find_consumer(tensor) if consumer else model.find_producer(tensor)
    inst = getCustomOp(node)
    shape = inst.get_folded_input_shape() if consumer else inst.get_folded_output_shape()
    return int(np.prod(shape[:-1]))


def _probe(text: str, name: str) -> tuple[str, list[str]]:
    """The stitched top with one more output, `probe`: bit i set in a cycle when inner stream i
    completed a handshake (never back-pressured, so the timing is the top's)."""
    wires = re.findall(r"wire \[\d+:0\] (t_\w+)_tdata;", text)
    head = re.search(rf"module {re.escape(name)} \(", text)
    if head is None:
        raise SimulationError(f"stitched top {name}: no module header")
    ports = f"\n  output [{len(wires) - 1}:0] probe_tdata, output probe_tvalid, input probe_tready,"
    text = text[: head.end()] + ports + text[head.end() :]
    bits = ", ".join(f"({w}_tvalid && {w}_tready)" for w in reversed(wires))
    end = text.rstrip().rfind("endmodule")
    body = f"  assign probe_tdata = {{{bits}}};\n  assign probe_tvalid = |probe_tdata;\n"
    return text[:end] + body + text[end:], wires


def run_partition(
    model: ModelWrapper, work_dir: Path, *, paced: bool = False, jobs: int = 1
) -> tuple[FifoRun, FifoRun | None]:
    """Simulate an all-RTL partition (HDL generated) with saturated input and no back-pressure;
    with `paced`, also with its input paced at the saturated run's cycles per frame."""
    from exitflow.hw.tools.finn_rtl import _sv_name

    missing = uncovered(model)
    if missing or len(model.graph.input) != 1 or len(model.graph.output) != 1:
        raise PrerequisiteError(
            f"hw.inner_fifos: sized simulates each partition in Verilator, which needs one input, "
            f"one output and every layer in RTL; not here: {', '.join(missing) or 'the I/O'}. "
            "Fix: hw.mvau_style: dsp, or hw.inner_fifos: none."
        )
    work_dir = Path(work_dir).resolve()
    installed, _ = finn_rtllib_source()
    name = "inner_fifo_top"
    top = stitch(model, name, patched_rtllib(work_dir / "cache"), installed)
    text, wires = _probe(top.text, name)
    top_file = work_dir / f"{name}.sv"
    top_file.parent.mkdir(parents=True, exist_ok=True)
    top_file.write_text(text)
    vm = build_model(name, [*top.sources, top_file], inputs=top.inputs,
                     outputs=[*top.outputs, StreamPort("probe", len(wires))],
                     workdir=work_dir / "verilator", jobs=jobs)  # fmt: skip
    n_in = _beats(model, model.graph.input[0].name, consumer=True)
    n_out = _beats(model, model.graph.output[0].name, consumer=False)
    fifos = [n for n in model.graph.node if _is_fifo(n)]

    def once(pace: int) -> FifoRun:
        at = SETTLE + (np.arange(FRAMES * n_in, dtype=np.int64) * pace) // n_in
        run = vm.run({"in0": np.zeros(FRAMES * n_in, np.uint64)},
                     expect={"out0": FRAMES * n_out}, release={"in0": at.astype(np.uint64)},
                     max_idle_cycles=1_000_000)  # fmt: skip
        oc = run.out_cycles["out0"].astype(np.int64)
        if len(oc) != FRAMES * n_out:
            raise SimulationError(f"{len(oc)} output words, expected {FRAMES * n_out}")
        ii = int(np.diff(oc.reshape(FRAMES, n_out)[:, -1])[-1])
        masks = run.out_limbs["probe"].astype(np.uint64)
        cyc = run.out_cycles["probe"].astype(np.int64)
        beat = {}
        for i, w in enumerate(wires):
            beat[w] = cyc[((masks[:, i // 32] >> np.uint64(i % 32)) & np.uint64(1)).astype(bool)]
        occ = {}
        for f in fifos:
            ins, outs = beat[_sv_name(f.input[0])], beat[_sv_name(f.output[0])]
            ev = np.concatenate([ins, outs])
            step = np.concatenate([np.ones(len(ins), np.int64), -np.ones(len(outs), np.int64)])
            order = np.lexsort((-step, ev))  # a word in and one out in one cycle: count both
            occ[f.input[0]] = int(np.cumsum(step[order]).max(initial=0))
        return FifoRun(ii, occ)

    sat = once(0)
    return sat, (once(sat.cycles_per_frame) if paced else None)


def size_inner_fifos(
    model: ModelWrapper, fpgapart: str, clk_ns: float, work_dir: Path
) -> ModelWrapper:
    """`model` (after step_hw_codegen) with its inner FIFOs sized by simulation, HDL generated."""
    from finn.transformation.fpgadataflow.annotate_cycles import AnnotateCycles
    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP

    edges = inner_edges(model)
    if not edges:
        return model
    deep = with_fifos(model, dict.fromkeys(edges, DEEP), fpgapart)
    deep = deep.transform(PrepareIP(fpgapart, clk_ns))
    sat, paced = run_partition(deep, Path(work_dir) / "deep", paced=True)
    assert paced is not None
    full = [t for t, o in paced.max_occupancy.items() if o >= DEEP]
    if full:
        log.warning("inner FIFOs on %s filled at the partition's own rate: raise DEEP", full)
    depths = {t: max(2, paced.max_occupancy.get(t, 0)) for t in edges}
    sized = with_fifos(model, depths, fpgapart)
    sized = sized.transform(PrepareIP(fpgapart, clk_ns)).transform(AnnotateCycles())
    note = {"deep": DEEP, "deep_cycles_per_frame": sat.cycles_per_frame, "depths": depths}
    sized.set_metadata_prop(SIZING_KEY, json.dumps(note))
    log.info(
        "inner FIFOs: %d cycles per frame with %d-deep FIFOs; depths %s",
        sat.cycles_per_frame,
        DEEP,
        {t: d for t, d in depths.items() if d > 2},
    )
    return sized
