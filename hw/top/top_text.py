"""The text of the generated top module: declarations, instances, FIFOs and element converters.

`TopText` accumulates the lines of `<design>_top.sv` (exitflow.hw.top.generate) as it wires
streams; `stream_link` joins two partitions that may pack elements differently.
"""

from __future__ import annotations

import math
from typing import Any

from exitflow.core.errors import PrerequisiteError
from exitflow.hw.top.plan import StreamFormat

__all__ = ["AXIL_PORTS", "AXIL_SIGNALS", "TopText", "connect", "stream_link"]


class TopText:
    """Accumulates declarations and instances of the top module."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.n = 0

    def bundle(self, name: str, width: int) -> str:
        """Declare an AXI-Stream bundle `<name>_tdata/_tvalid/_tready` of `width` bits."""
        self.lines.append(
            f"  wire [{width - 1}:0] {name}_tdata; wire {name}_tvalid, {name}_tready;"
        )
        return name

    def inst(self, module: str, params: dict[str, Any], name: str, ports: list[str]) -> None:
        """Instantiate `module` with `params`, clock and reset, and `ports`."""
        p = ", ".join(f".{k}({v})" for k, v in params.items())
        head = f"  {module} #({p}) {name} (" if p else f"  {module} {name} ("
        self.lines.append(head + "\n    .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),\n    "
                          + ",\n    ".join(ports) + ");")  # fmt: skip

    def fifo(self, src: str, width: int, depth: int, tag: str) -> str:
        """A FIFO of `depth` words after bundle `src`; returns the bundle it drives."""
        dst = self.bundle(f"{tag}_q", width)
        self.inst(
            "sfifo",
            {"DW": width, "DEPTH": depth},
            f"u_{tag}_q",
            [*connect("s", src), *connect("m", dst)],
        )
        return dst


def connect(port: str, bundle: str) -> list[str]:
    """Port connections of AXI-Stream port `port` to `bundle`."""
    return [f".{port}_{s}({bundle}_{s})" for s in ("tdata", "tvalid", "tready")]


def stream_link(
    t: TopText, src: str, a: StreamFormat, b: StreamFormat, depth: int, tag: str
) -> str:
    """FIFO of `depth` words, then an element converter if the two ends pack differently."""
    cur = t.fifo(src, a.width, depth, tag)
    if a.bits != b.bits:
        raise PrerequisiteError(
            f"{tag}: the writer's elements are {a.bits} bits, the reader's {b.bits}: the "
            "partitions disagree on the boundary's data type. Fix: rebuild the design."
        )
    if a.per_word == b.per_word and a.width == b.width:
        return cur
    dst = t.bundle(f"{tag}_dwc", b.width)
    g = math.gcd(a.per_word, b.per_word)
    t.inst("elem_dwc", {"EB": a.bits, "IN_E": a.per_word, "OUT_E": b.per_word, "G": g,
                        "IW": a.width, "OW": b.width},
           f"u_{tag}_dwc", [*connect("s", cur), *connect("m", dst)])  # fmt: skip
    return dst


# the top's AXI-Lite slave: (signal, direction, width declaration)
AXIL_PORTS = [
    ("AWADDR", "input", "[11:0] "), ("AWVALID", "input", ""), ("AWREADY", "output", ""),
    ("WDATA", "input", "[31:0] "), ("WSTRB", "input", "[3:0] "), ("WVALID", "input", ""),
    ("WREADY", "output", ""), ("BRESP", "output", "[1:0] "), ("BVALID", "output", ""),
    ("BREADY", "input", ""), ("ARADDR", "input", "[11:0] "), ("ARVALID", "input", ""),
    ("ARREADY", "output", ""), ("RDATA", "output", "[31:0] "), ("RRESP", "output", "[1:0] "),
    ("RVALID", "output", ""), ("RREADY", "input", ""),
]  # fmt: skip
AXIL_SIGNALS = [s for s, _, _ in AXIL_PORTS]
