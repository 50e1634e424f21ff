"""Load shedding's wiring in the generated top (exitflow.hw.top.generate; docs/rtl.md).

Each conditional buffer's shed flags go through a FIFO into its exit unit; every exit record
then carries a forced bit, which the merge passes through as its payload's low bit and the top
moves to the output record's forced field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exitflow.hw.top.top_text import TopText

__all__ = ["merge_remap", "shed_flags"]


def shed_flags(t: TopText, k: int, depth: int, shedding: bool, cbuf: bool) -> str:
    """The stream exit unit k reads shed flags from: buffer k's flags through a FIFO as deep as
    the segment's id FIFO (a flag's frame stays in the segment until its exit unit retires it),
    or constant 0 (no shedding, or no buffer at exit k)."""
    if shedding and cbuf:
        return t.fifo(f"shed{k}", 1, depth, f"shed{k}")
    sink = f"\n  wire unused_shed{k} = shed{k}_tdata[0] | shed{k}_tvalid;" if cbuf else ""
    sink += f"\n  assign shed{k}_tready = 1'b1;" if cbuf else ""
    t.lines.append(
        f"  /* verilator lint_off UNUSEDSIGNAL */\n  wire shedx{k}_tready;{sink}\n"
        "  /* verilator lint_on UNUSEDSIGNAL */\n"
        f"  wire shedx{k}_tdata = 1'b0, shedx{k}_tvalid = 1'b0;"
    )
    return f"shedx{k}"


def merge_remap(t: TopText, width: int, low: int, class_bits: int, payload_bits: int) -> None:
    """Declare `mrg_o_tdata` (before the merge, the last line so far) and drive out_tdata from
    it: the merge gives {logits, forced, class, 0, exit, id} (low = id + exit bits), the record
    is {logits, class, forced, exit, id} of `width` bits."""
    a, cw = low, class_bits
    hi = f"mrg_o_tdata[{width}:{a + cw + 2}], " if payload_bits else ""
    t.lines.insert(
        -1,
        "  /* verilator lint_off UNUSEDSIGNAL */  // bit low: the merge's own forced bit (0)\n"
        f"  wire [{width}:0] mrg_o_tdata;\n  /* verilator lint_on UNUSEDSIGNAL */",
    )
    t.lines.append(
        f"  assign out_tdata = {{{hi}mrg_o_tdata[{a + cw}:{a + 1}], "
        f"mrg_o_tdata[{a + cw + 1}], mrg_o_tdata[{a - 1}:0]}};"
    )
