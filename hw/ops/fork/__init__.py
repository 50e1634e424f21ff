"""Stream fork (stream_fork.sv): one AXI stream duplicated to two consumers.

LOCKSTEP = 1 (the simulator's fork): a beat leaves to both outputs in the same cycle, once both
are ready; no storage, no latency. LOCKSTEP = 0: an AXI broadcaster; one output may take the
current beat before the other (it runs ahead by at most one beat). `reference`: both outputs
carry the input stream unchanged.
"""

from __future__ import annotations

import numpy as np

from exitflow.hw.ops import BlockEstimate

__all__ = ["estimate", "reference"]


def reference(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both outputs' words: the input stream, each beat exactly once, in order."""
    w = np.asarray(words)
    return w.copy(), w.copy()


def estimate(lockstep: bool = True) -> BlockEstimate:
    """Combinational handshake (3 LUTs), or two done flags for the broadcaster."""
    return BlockEstimate(1, 0, 3, 0, 0) if lockstep else BlockEstimate(1, 0, 5, 2, 0)
