"""A one-node stage's reads frozen behind its own writes of the same frame (NodeTiming.fzk,
docs/simulator.md "Measured RTL timing"), for the fast engine (sim.fast)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from exitflow.sim.fast_rows import _write_nodes

if TYPE_CHECKING:
    from exitflow.sim.fast import FastEngine

__all__ = ["solve_freeze"]


def solve_freeze(eng: FastEngine, f: int, k: int, phi: int) -> None:
    """A stage node's reads frozen behind its own writes of the same frame: the least
    solution from below, each round raising the reads to the bounds the writes give and
    solving the frame's reads (its writer's row again) and writes anew."""
    st = eng.segs[k]
    n = st.stage[0]
    j, kk, d = n.fzs  # type: ignore[misc]
    p = phi - n.org
    try:
        while True:
            b = n.W[p][kk] + d
            late = n.R[p][j] < b
            if not late.any():
                return
            if n.fz is None:
                # in the rows' dtype: an int64 NEG would wrap to 0 in an int32 row
                n.fz = np.full(n.t.in_beats, np.iinfo(n.R.dtype).min // 2, n.R.dtype)
            jj = j[late]
            n.fz[jj] = np.maximum(n.fz[jj], b[late] - n.in_off[jj])
            if k == 0:
                n.read_dma(phi, int(eng.arrival[f]) + 1)
            else:
                prev = eng.segs[k - 1]
                eng.release_rows(prev)
                if prev.stored_lv and eng.model.shedding:
                    prev.stored_lv[-1] = prev.LV[prev.rel[0]].copy()
            _write_nodes(st.stage, st.stage_cons, phi)
    finally:
        n.fz = None
