"""AXI-Lite register block (axilite_regs.sv): run-time exit thresholds and per-exit counters.

Behaviour: `RegisterFile` is the reference: the register map, reset values (the calibrated
thresholds), writes, reads and the counters, as the RTL implements them (docs/rtl.md, "The
generated top"). `estimate` gives resources; a register access takes 3 cycles (write: address
and data accepted, response; read: address accepted, data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from exitflow.core.errors import ConfigError
from exitflow.hw.ops import BlockEstimate

__all__ = [
    "CONTROL",
    "COUNTER_BASE",
    "EXITS",
    "FRAMES_IN",
    "MAGIC",
    "MAGIC_VALUE",
    "THRESHOLD_BASE",
    "RegisterFile",
    "counter_addr",
    "estimate",
    "params",
    "threshold_addr",
]

MAGIC, EXITS, CONTROL, FRAMES_IN = 0x000, 0x004, 0x008, 0x00C
THRESHOLD_BASE, COUNTER_BASE = 0x100, 0x200
MAGIC_VALUE = 0x45584631  # "EXF1"
MAX_EXITS = 64  # 0x100 bytes of registers per bank


def threshold_addr(exit_index: int) -> int:
    """Address of exit k's threshold register (non-final exits)."""
    return THRESHOLD_BASE + 4 * exit_index


def counter_addr(exit_index: int) -> int:
    """Address of exit k's delivered-records counter."""
    return COUNTER_BASE + 4 * exit_index


def params(num_exits: int, thresholds: Sequence[int]) -> dict[str, int | str]:
    """Verilog parameters: N, NT and TH_INIT (a packed literal, exit 0 in the LSBs)."""
    if not 1 <= num_exits <= MAX_EXITS or len(thresholds) != max(num_exits - 1, 0):
        raise ConfigError(
            f"axilite_regs needs 1..{MAX_EXITS} exits and one threshold per non-final exit "
            f"(got {num_exits} exits, {len(thresholds)} thresholds)"
        )
    vals = list(thresholds) or [0]
    for t in vals:
        if not -(2**31) <= int(t) < 2**31:
            raise ConfigError(f"threshold {t} does not fit a 32-bit register")
    packed = "{" + ", ".join(f"32'h{int(t) & 0xFFFFFFFF:08x}" for t in reversed(vals)) + "}"
    return {"N": num_exits, "NT": len(vals), "TH_INIT": packed}


@dataclass
class RegisterFile:
    """Reference of axilite_regs.sv: what reads return after given writes and traffic."""

    num_exits: int
    thresholds: list[int]
    counters: list[int] = field(default_factory=list)
    frames_in: int = 0

    def __post_init__(self) -> None:
        self.thresholds = [int(t) & 0xFFFFFFFF for t in self.thresholds]
        self.counters = self.counters or [0] * self.num_exits

    def write(self, addr: int, value: int) -> None:
        """A write: thresholds take the value, CONTROL bit 0 clears the counters."""
        value &= 0xFFFFFFFF
        k = (addr - THRESHOLD_BASE) // 4
        if addr % 4 == 0 and 0 <= k < len(self.thresholds) and addr >= THRESHOLD_BASE:
            self.thresholds[k] = value
        elif addr == CONTROL and value & 1:
            self.counters = [0] * self.num_exits
            self.frames_in = 0

    def count(self, exit_index: int, frames: int = 1) -> None:
        """Records delivered from exit `exit_index`."""
        self.counters[exit_index] = (self.counters[exit_index] + frames) & 0xFFFFFFFF

    def read(self, addr: int) -> int:
        """The value a read of `addr` returns (unsigned 32-bit)."""
        fixed = {MAGIC: MAGIC_VALUE, EXITS: self.num_exits, FRAMES_IN: self.frames_in}
        if addr in fixed:
            return fixed[addr]
        for base, regs in ((THRESHOLD_BASE, self.thresholds), (COUNTER_BASE, self.counters)):
            k = (addr - base) // 4
            if addr >= base and addr % 4 == 0 and k < len(regs):
                return regs[k]
        return 0


def estimate(num_exits: int) -> BlockEstimate:
    """Resources: 32-bit registers (thresholds, counters, frame count, address/data holding)
    and a read multiplexer of about one LUT per bit and register pair; not yet fitted to yosys."""
    regs = 2 * num_exits + 3
    ff = 32 * regs + 12 + 4
    lut = 16 * regs + 32 * num_exits + 20  # read mux + counter adders (carry chains)
    return BlockEstimate(1, 3, lut, ff, 0)
