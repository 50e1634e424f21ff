"""Conditional buffer (cond_buffer.sv): holds stage k's frames until decision k, then drops or
releases each, in order.

Behaviour: `reference` = the continuing frames, in order; exited frames never leave. Timing: the
simulator's conditional buffer and its verdict FIFO (docs/simulator.md), cycle for cycle: a frame
is taken with its verdict the cycle after the previous one left; dropped one cycle later once
stored; released one beat per cycle from the cycle after the take (frame_beats + 1 cycles per
released frame). Storage maps to block RAM above LUTRAM_MAX_BITS.

Load shedding (SHEDDING = 1): a frame whose first beat arrives while the buffer holds more than
capacity - frame_beats words is shed (accepted, not stored, its flag out on f_*); verdicts come
for stored frames only. `admitted` replays that rule on the words-stored count; `reference` with
`shed` leaves shed frames out.
"""

from __future__ import annotations

import math

import numpy as np

from exitflow.core.errors import ConfigError
from exitflow.hw.ops import BlockEstimate, clog2

__all__ = ["BRAM18_SHAPES", "LUTRAM_MAX_BITS", "admitted", "estimate", "params", "reference"]

# BRAM18 aspect ratios (port width, words) of 7-series/UltraScale simple dual-port mode: synthesis
# picks the one that needs the fewest blocks (a 4-bit buffer uses 4096 x 4, not 512 x 36)
BRAM18_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
LUTRAM_MAX_BITS = 2048  # smaller buffers map to distributed RAM (RAM32M/RAM64M)


def reference(frames: np.ndarray, exited: np.ndarray, shed: np.ndarray | None = None) -> np.ndarray:
    """Words the buffer releases: the beats of the frames [NF, FRAME_BEATS] that did not exit
    (and, under load shedding, were not shed: `shed` one flag per frame)."""
    frames = np.asarray(frames)
    exited = np.asarray(exited, dtype=bool)
    gone = exited if shed is None else exited | np.asarray(shed, dtype=bool)
    if frames.ndim != 2 or gone.shape != (len(frames),):
        raise ConfigError(
            f"need frames [NF, FRAME_BEATS] and one exit (and shed) flag per frame, got "
            f"{frames.shape} and {gone.shape}"
        )
    return frames[~gone].reshape(-1)


def admitted(stored_words: int, frame_beats: int, depth_frames: int) -> bool:
    """Load shedding's rule: a frame whose first beat arrives while the buffer holds
    `stored_words` (at the start of that cycle) is stored iff all its beats fit."""
    return stored_words <= frame_beats * depth_frames - frame_beats


def params(
    width_bits: int,
    frame_beats: int,
    depth_frames: int,
    verdict_depth: int,
    shedding: bool = False,
) -> dict[str, int]:
    """Verilog parameters; raises ConfigError for a buffer that cannot hold one frame.
    shedding: SHEDDING = 1 (load shedding; docs/rtl.md)."""
    if min(width_bits, frame_beats, depth_frames, verdict_depth) < 1:
        raise ConfigError(
            "cond_buffer needs width, frame_beats, depth_frames and verdict_depth >= 1 (a buffer "
            f"smaller than one frame deadlocks); got {width_bits}, {frame_beats}, "
            f"{depth_frames}, {verdict_depth}"
        )
    return {
        "DW": width_bits,
        "FRAME_BEATS": frame_beats,
        "DEPTH_FRAMES": depth_frames,
        "VERDICT_DEPTH": verdict_depth,
        "SHEDDING": int(shedding),
    }


def estimate(width_bits: int, frame_beats: int, depth_frames: int) -> BlockEstimate:
    """Cycles and resources, fitted to yosys synth_xilinx (tests/test_ops_estimates.py).

    LUTs include distributed RAM (4 per RAM32M). Small buffers map to RAM32M (32 words x 6
    bits each); larger ones to BRAM18 blocks in the shape that needs the fewest, plus a read
    multiplexer and write decoding per extra bank stacked in depth.
    """
    bits = width_bits * frame_beats * depth_frames
    words = frame_beats * depth_frames
    aw, lw = clog2(words), clog2(frame_beats + 1)
    if bits <= LUTRAM_MAX_BITS:
        bram = 0
        lut = 31 + width_bits + 4 * math.ceil(width_bits / 6) * math.ceil(words / 32)
        ff = 2 * width_bits + 3 * aw + lw + 16  # read register and bypass word in flip-flops
    else:
        shape = min(
            BRAM18_SHAPES, key=lambda s: math.ceil(width_bits / s[0]) * math.ceil(words / s[1])
        )
        banks = math.ceil(words / shape[1])
        bram = math.ceil(width_bits / shape[0]) * banks
        lut = 95 + width_bits + (banks - 1) * (4 + width_bits // 4)
        ff = width_bits + 3 * aw + lw + 16  # the read register sits in the block RAM
    # a released frame: frame_beats beats plus the verdict hand-off cycle
    return BlockEstimate(frame_beats + 1, 2, lut, ff, bram)
