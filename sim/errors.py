"""Errors the simulator raises: each names the node or buffer, the frame and the cycle."""

from __future__ import annotations

from exitflow.core.errors import SimulationError as _BaseSimulationError
from exitflow.core.errors import VerificationError


class SimulationError(_BaseSimulationError):
    """The simulated design misbehaves (deadlock, overflow)."""


class DeadlockError(SimulationError):
    """No beat can move any more: `node` waits for a buffer that can never drain."""

    def __init__(self, node: str, frame: int, cycle: int, detail: str = "") -> None:
        self.node, self.frame, self.cycle, self.detail = node, frame, cycle, detail
        msg = f"deadlock: {node} blocked from cycle {cycle} on frame {frame}"
        super().__init__(f"{msg}: {detail}" if detail else msg)


class BufferOverflowError(SimulationError):
    """A buffer held more beats than its depth (an engine bug: back-pressure forbids it)."""

    def __init__(self, buffer: str, frame: int, cycle: int, occupancy: int, depth: int) -> None:
        self.buffer, self.frame, self.cycle = buffer, frame, cycle
        super().__init__(
            f"overflow: {buffer} held {occupancy} > {depth} beats at cycle {cycle} (frame {frame})"
        )


class ExitMismatchError(VerificationError):
    """The simulated decision units disagree with the software model on some frames."""

    def __init__(self, mismatches: list[dict[str, int]], total: int) -> None:
        self.mismatches = mismatches
        shown = "; ".join(
            f"frame {m['frame']}: exit {m['sim_exit']} class {m['sim_class']} (sim) vs exit "
            f"{m['ref_exit']} class {m['ref_class']} (software)"
            for m in mismatches[:5]
        )
        more = f" (and {len(mismatches) - 5} more)" if len(mismatches) > 5 else ""
        super().__init__(f"{len(mismatches)} of {total} frames disagree: {shown}{more}")
