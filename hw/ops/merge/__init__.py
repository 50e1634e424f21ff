"""Output merge (merge.sv): the per-frame results of every exit in one stream.

Behaviour: `reference` orders records as the simulator's merge does (docs/simulator.md): one
queue in arrival order, records of the same cycle in exit order, one record per cycle; non-final
exits contribute only exited frames. The RTL's queue is bounded (DEPTH records) and
back-pressures every input while fewer than N slots are free.
"""

from __future__ import annotations

import numpy as np

from exitflow.core.errors import ConfigError
from exitflow.hw.ops import BlockEstimate, clog2

__all__ = ["estimate", "pack_input", "params", "reference", "unpack_output"]


def params(
    num_exits: int, id_bits: int, class_bits: int, payload_bits: int = 0, depth: int = 8
) -> dict[str, int]:
    """Verilog parameters; the queue depth is raised to a power of two >= num_exits."""
    if num_exits < 1 or id_bits < 1 or class_bits < 1 or payload_bits < 0:
        raise ConfigError(
            f"merge needs >= 1 exit, id and class bits (got {num_exits}, {id_bits}, "
            f"{class_bits}) and payload_bits >= 0 (got {payload_bits})"
        )
    d = 1 << clog2(max(depth, num_exits))
    return {"N": num_exits, "IDW": id_bits, "CW": class_bits, "PW": payload_bits, "DEPTH": d}


def pack_input(frame_id, cls, fire, id_bits: int, class_bits: int, payload=None) -> np.ndarray:
    """Input words {payload, class, fire, frame_id} (uint64 when they fit, else Python ints)."""
    fid = np.asarray(frame_id, dtype=np.int64)
    words = [
        int(f) | (int(b) << id_bits) | (int(c) << (id_bits + 1))
        for f, b, c in zip(fid, np.asarray(fire, bool), np.asarray(cls, np.int64))
    ]
    if payload is not None:
        shift = id_bits + 1 + class_bits
        words = [w | (int(p) << shift) for w, p in zip(words, payload)]
    return np.asarray(words, dtype=object)


def unpack_output(words, num_exits: int, id_bits: int, class_bits: int) -> dict[str, np.ndarray]:
    """Output words -> frame_id, exit, forced, class (and payload) arrays."""
    ew = clog2(num_exits)
    w = [int(x) for x in words]
    field = lambda lo, n: np.array([(x >> lo) & ((1 << n) - 1) for x in w], np.int64)  # noqa: E731
    return {
        "frame_id": field(0, id_bits),
        "exit": field(id_bits, ew),
        "forced": field(id_bits + ew, 1),
        "class": field(id_bits + ew + 1, class_bits),
        "payload": np.array([x >> (id_bits + ew + 1 + class_bits) for x in w], dtype=object),
    }


def reference(arrival: np.ndarray, exit_index: np.ndarray) -> np.ndarray:
    """Emission order of kept records: indices sorted by (arrival cycle, exit), stable.

    arrival[i]: cycle record i was accepted by the merge; exit_index[i]: its input. This is the
    order of the simulator's `merge_finish` (earliest arrival first, ties to the lower exit).
    """
    arrival = np.asarray(arrival, dtype=np.int64)
    exit_index = np.asarray(exit_index, dtype=np.int64)
    if arrival.shape != exit_index.shape:
        raise ConfigError("need one exit index per record's arrival cycle")
    return np.lexsort((np.arange(len(arrival)), exit_index, arrival))


def estimate(
    num_exits: int, id_bits: int, class_bits: int, payload_bits: int = 0, depth: int = 8
) -> BlockEstimate:
    """Resources fitted to yosys synth_xilinx (tests/test_ops_estimates.py); one record/cycle."""
    p = params(num_exits, id_bits, class_bits, payload_bits, depth)
    ow = payload_bits + class_bits + 1 + clog2(num_exits) + id_bits
    d = p["DEPTH"]
    # the queue is d x ow flip-flops; each slot's write multiplexer and the read multiplexer
    # grow with the depth (yosys: 283 LUTs at 3 exits x 8 x 23 bits, 891 at 16 deep)
    lut = round(ow * d * (0.66 + 0.11 * d))
    return BlockEstimate(1, 1, lut, d * ow + clog2(d) + 2, 0)
