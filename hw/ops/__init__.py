"""exitflow's own RTL blocks, one sub-package each: the block's SystemVerilog, its Python
reference behaviour (`reference`), its cycle counts and resource estimates (`estimate`).

Blocks: `cond_buffer` (holds a stage's frames until the exit decision), `exit_decision`
(max-logit / margin thresholding), `merge` (per-frame results of all exits into one stream),
`fork` (one stream to two consumers). Their timing is the cycle simulator's model
(docs/simulator.md); tests/test_ops_*.py run each RTL under Verilator against its reference and
against the simulator's processes, cycle by cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OPS_DIR", "BlockEstimate", "clog2", "sources"]

OPS_DIR = Path(__file__).resolve().parent


def clog2(n: int) -> int:
    """Bits to index n items (at least 1), as the RTL's $clog2 with a floor of one bit."""
    return max(1, math.ceil(math.log2(max(n, 2))))


@dataclass(frozen=True)
class BlockEstimate:
    """Timing and resources of one RTL block instance."""

    cycles_per_frame: int  # initiation interval at full rate (one input beat per cycle)
    latency_cycles: int  # first input beat to output, with no back-pressure
    lut: int
    ff: int
    bram_18k: int

    def resources(self) -> dict[str, int]:
        """FINN-style resource dict (LUTs, FFs, BRAM18, no URAM, no DSP)."""
        return {"LUT": self.lut, "FF": self.ff, "BRAM_18K": self.bram_18k, "URAM": 0, "DSP": 0}


def sources(block: str) -> list[Path]:
    """The SystemVerilog files of one block (e.g. "cond_buffer"), in compile order."""
    folder = OPS_DIR / block
    files = sorted(folder.glob("*.sv"))
    if not files:
        from exitflow.core.errors import ConfigError

        known = sorted(p.name for p in OPS_DIR.iterdir() if (p / "__init__.py").is_file())
        raise ConfigError(f"no RTL block {block!r} under {OPS_DIR}; the blocks are {known}")
    return files
