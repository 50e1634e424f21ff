"""AXI-stream ports and words for the Verilator stream harness (exitflow.hw.tools.stream).

A port is a logical name, a TDATA width and its three signal names; words travel to and from
the harness as little-endian uint32 limbs, least significant limb first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from exitflow.core.errors import ConfigError

__all__ = ["StreamPort", "from_limbs", "to_limbs"]


@dataclass(frozen=True)
class StreamPort:
    """One AXI-stream port: a logical name, its TDATA width and its three signal names."""

    name: str
    width: int
    data: str = ""
    valid: str = ""
    ready: str = ""

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ConfigError(f"Stream port {self.name!r} has width {self.width}: give >= 1 bits.")
        for attr, suffix in (("data", "_tdata"), ("valid", "_tvalid"), ("ready", "_tready")):
            if not getattr(self, attr):
                object.__setattr__(self, attr, self.name + suffix)

    @classmethod
    def finn(cls, name: str, width: int) -> StreamPort:
        """A port named the FINN way: `<name>_TDATA/_TVALID/_TREADY` (e.g. name="in0_V")."""
        return cls(name, width, f"{name}_TDATA", f"{name}_TVALID", f"{name}_TREADY")

    @property
    def limbs(self) -> int:
        """Number of uint32 limbs one word takes."""
        return (self.width + 31) // 32


def to_limbs(words: Any, width: int) -> np.ndarray:
    """Words -> (n, limbs) uint32 array, least significant limb first, masked to `width` bits.

    Accepts a 1-D integer array or sequence (negative values become two's complement), a
    sequence of Python ints of any size or hex strings, or an (n, limbs) uint32 array as is.
    """
    limbs = (width + 31) // 32
    arr = np.asarray(words) if not isinstance(words, np.ndarray) else words
    if arr.ndim == 2 and arr.dtype == np.uint32:
        if arr.shape[1] != limbs:
            raise ConfigError(
                f"Limb array has {arr.shape[1]} limbs per word, a {width}-bit port needs {limbs}."
            )
        return np.ascontiguousarray(arr)
    if arr.ndim != 1 and arr.size:
        arr = arr.reshape(-1)
    if arr.dtype.kind in "iub" and width <= 64:
        vals = arr.astype(np.int64).view(np.uint64) if arr.dtype.kind == "i" else arr
        vals = vals.astype(np.uint64) & np.uint64((1 << width) - 1)
        out = np.empty((vals.size, limbs), dtype=np.uint32)
        out[:, 0] = (vals & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        if limbs > 1:
            out[:, 1] = (vals >> np.uint64(32)).astype(np.uint32)
        return out
    mask = (1 << width) - 1
    out = np.empty((len(arr), limbs), dtype=np.uint32)
    for k, word in enumerate(arr.tolist()):
        value = (int(word, 16) if isinstance(word, str) else int(word)) & mask
        for limb in range(limbs):
            out[k, limb] = (value >> (32 * limb)) & 0xFFFFFFFF
    return out


def from_limbs(limbs: np.ndarray, width: int) -> np.ndarray:
    """(n, limbs) uint32 -> uint64 array (width <= 64) or object array of Python ints."""
    if width <= 64:
        vals = limbs[:, 0].astype(np.uint64)
        if limbs.shape[1] > 1:
            vals |= limbs[:, 1].astype(np.uint64) << np.uint64(32)
        return vals
    out = np.empty(limbs.shape[0], dtype=object)
    for k, row in enumerate(limbs.tolist()):
        out[k] = sum(int(v) << (32 * i) for i, v in enumerate(row))
    return out
