"""What a generated top is: its output record's fields and the files, ports and plan a driver
needs (exitflow.hw.top.generate writes one; design.json records it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exitflow.hw.tools.stream import AxiLitePort, StreamPort
from exitflow.hw.top.plan import StreamFormat, TopPlan

__all__ = ["RecordFormat", "TopDesign", "describe_design"]


@dataclass(frozen=True)
class RecordFormat:
    """Fields of an output record, least significant first: frame id, exit, forced, class,
    then `num_classes` logits of `logit_bits` each (class 0 lowest) when `logits`."""

    id_bits: int
    exit_bits: int
    class_bits: int
    num_classes: int
    logit_bits: int
    logits: bool

    @property
    def width(self) -> int:
        """Bits of one record."""
        pw = self.num_classes * self.logit_bits if self.logits else 0
        return self.id_bits + self.exit_bits + 1 + self.class_bits + pw


@dataclass
class TopDesign:
    """A generated top: files, ports and what a driver needs to feed and read it."""

    name: str
    rtl_dir: Path
    top_file: Path
    sources: list[Path]
    input: StreamPort
    output: StreamPort
    axilite: AxiLitePort
    input_format: StreamFormat  # how stage 0 reads images (FINN packing)
    record: RecordFormat
    plan: TopPlan
    thresholds: list[int]  # reset values of the threshold registers (calibrated)
    meta: dict[str, Any] = field(default_factory=dict)


def describe_design(d: TopDesign) -> dict[str, Any]:
    """The JSON-ready description of `d` written as design.json."""
    p = d.plan
    return {
        "top": d.name,
        "sources": [str(s) for s in d.sources],
        "input": {"width": d.input.width, "format": p.parts[p.exits[0].stages[0]].inp.__dict__},
        "record": {**d.record.__dict__, "width": d.record.width},
        "fifo_depths": p.fifo_depths,
        "depth_source": p.depth_source,
        "exits": [{k: v for k, v in e.__dict__.items()} for e in p.exits],
        "thresholds": d.thresholds,
        **d.meta,
    }
