"""Record every handshake inside the generated top: the RTL side of the simulator's fidelity.

`probe_top(design, images)` copies the top with one extra output stream, `probe`, whose word in
each cycle is the set of the top's internal AXI streams that completed a handshake (valid and
ready) in that cycle; the stream harness records every such word with its cycle. The result
maps each stream (the top's wire prefix, e.g. `stage0_o`, `fork0_c`, `cbuf0_o`) to the cycles
of its beats, so that a simulator trace can be compared stream by stream and frame by frame
(`beats_per_frame`, `frame_spans`). The copy's logic is the top's plus one OR tree; the probe is
never back-pressured, so the top's timing is unchanged (tests/test_fidelity.py, marked slow:
every record in the cycle and order of a plain co-simulation).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exitflow.core.errors import SimulationError
from exitflow.core.files import write_text
from exitflow.hw.ops.merge import unpack_output
from exitflow.hw.tools.stream import StreamPort, VerilatedModel, build_model
from exitflow.hw.top.generate import TopDesign

__all__ = ["ProbeRun", "build_probe_model", "probe_streams", "probe_top"]

log = logging.getLogger(__name__)

_WIRE = re.compile(r"wire\s+(?:\[[^\]]+\]\s+)?\w+_tdata;\s*wire\s+(\w+)_tvalid,\s*\1_tready;")


def probe_streams(text: str) -> list[str]:
    """The stream wires (prefixes with _tvalid and _tready) a generated top declares."""
    return ["in", *(m.group(1) for m in _WIRE.finditer(text)), "out"]


@dataclass
class ProbeRun:
    """Cycles of every beat on every probed stream (the harness's cycle count)."""

    streams: dict[str, np.ndarray]
    out_cycles: np.ndarray  # the top's output records
    cycles: int
    order: np.ndarray  # frame ids in the order their records left

    def frame_spans(self, stream: str, beats: int) -> np.ndarray:
        """[frames, 2]: first and last beat cycle of each whole frame of `beats` beats."""
        c = self.streams[stream]
        n = len(c) // beats
        per = c[: n * beats].reshape(n, beats)
        return np.stack([per[:, 0], per[:, -1]], axis=1)


def _probe_text(design: TopDesign) -> tuple[str, list[str]]:
    text = design.top_file.read_text()
    names = probe_streams(text)
    w = len(names)
    head = re.search(rf"module\s+{re.escape(design.name)}\s*\(", text)
    if head is None:
        raise SimulationError(f"{design.top_file}: no `module {design.name} (` header")
    ports = (
        f"\n  output wire [{w - 1}:0] probe_tdata,\n  output wire probe_tvalid,\n"
        "  input wire probe_tready,"
    )
    text = text[: head.end()] + ports + text[head.end() :]
    bits = ", ".join(f"({n}_tvalid && {n}_tready)" for n in reversed(names))
    body = f"  assign probe_tdata = {{{bits}}};\n  assign probe_tvalid = |probe_tdata;\n"
    end = text.rstrip().rfind("endmodule")
    return text[:end] + body + text[end:], names


def build_probe_model(
    design: TopDesign, *, workdir: str | Path | None = None, jobs: int = 1
) -> tuple[VerilatedModel, list[str]]:
    """The top with its `probe` output, built in Verilator (cached like the top)."""
    text, names = _probe_text(design)
    path = write_text(design.rtl_dir / "probe" / design.top_file.name, text)
    sources = [path if s == design.top_file else s for s in design.sources]
    model = build_model(
        design.name,
        sources,
        inputs=[design.input],
        outputs=[design.output, StreamPort("probe", len(names))],
        axilite=design.axilite,
        workdir=Path(workdir) if workdir is not None else design.rtl_dir / "verilator",
        jobs=jobs,
    )
    return model, names


def probe_top(
    design: TopDesign,
    images: np.ndarray,
    *,
    starts: np.ndarray | None = None,
    reg_writes: list[tuple[int, int]] | None = None,
    model: tuple[VerilatedModel, list[str]] | None = None,
    jobs: int = 1,
) -> ProbeRun:
    """Run `images` (the reference's input array) through the probed top, no back-pressure.

    starts: each frame's earliest first-word cycle (None: back to back)."""
    from exitflow.hw.top.cosim import input_words

    vm, names = model or build_probe_model(design, jobs=jobs)
    n = len(images)
    words, release = input_words(design, images, starts)
    run = vm.run(
        {design.input.name: words},
        expect={design.output.name: n},
        release={design.input.name: release},
        max_idle_cycles=1_000_000,
        reg_writes=list(reg_writes or []),
        check=True,
    )
    masks = run.out_limbs["probe"].astype(np.uint64)  # [beats, limbs] of 32 bits
    cyc = run.out_cycles["probe"].astype(np.int64)
    streams = {}
    for i, name in enumerate(names):
        hit = (masks[:, i // 32] >> np.uint64(i % 32)) & np.uint64(1)
        streams[name] = cyc[hit.astype(bool)]
    rf = design.record
    raw = run.outputs[design.output.name]
    ids = unpack_output(raw, len(design.plan.exits), rf.id_bits, rf.class_bits)["frame_id"]
    log.info("probe: %d frames, %d cycles, %d streams", n, run.cycles, len(names))
    out = run.out_cycles[design.output.name].astype(np.int64)
    return ProbeRun(streams, out, run.cycles, np.asarray(ids, np.int64))
