"""The shallowest FIFOs and buffers the generated top accepts, and depth overrides.

`generate_top(depths=...)` overrides a plan's depths by name, and every depth of the plan (from
the simulator's sizing, the hardware description or an override) is checked against the
minimum below; anything shallower is a ConfigError naming the key and the minimum.

The minima are those at which the top is still correct: no deadlock, no lost, duplicated or
reordered frame, under any output back-pressure (tests/test_top_stress.py runs the whole top
at exactly these depths). They are not fast: a one-word sfifo moves a word every other cycle
and a one-frame conditional buffer holds stage k until exit k has decided. Sizing for speed is
the simulator's job (sim/report.json).

- stream FIFO (`"<src>-><dst>"`, e.g. `stage0->head0`, `stage0->stage1`, `head0->decision0`,
  `head1->argmax1`): MIN_FIFO_WORDS words (sfifo takes any depth >= 1);
- verdict FIFO of a conditional buffer (`decision<k>->cbuf<k>`): MIN_VERDICT verdicts;
- conditional buffer (`cbuf<k>`): MIN_CBUF_FRAMES whole frames (a frame waits there for its
  verdict while the head computes it);
- id FIFO of segment k (`id<k>`): MIN_ID_FIFO ids;
- merge queue (`generate_top(merge_depth=)`): the number of exits (it accepts while N slots
  are free; raised to a power of two).
"""

from __future__ import annotations

from collections.abc import Mapping

from exitflow.core.errors import ConfigError
from exitflow.hw.top.plan import TopPlan

__all__ = [
    "MIN_CBUF_FRAMES",
    "MIN_FIFO_WORDS",
    "MIN_ID_FIFO",
    "MIN_VERDICT",
    "apply_depths",
    "check_depths",
    "depth_keys",
]

MIN_FIFO_WORDS = 1
MIN_VERDICT = 1
MIN_CBUF_FRAMES = 1
MIN_ID_FIFO = 1


def depth_keys(plan: TopPlan) -> dict[str, int]:
    """Every depth of the plan by its key (see the module docstring) with its current value."""
    keys = dict(plan.fifo_depths)
    for e in plan.exits:
        k = e.index
        keys.setdefault(f"{e.head}->{e.decision or f'argmax{k}'}", 2)
        keys[f"id{k}"] = e.id_depth
        if e.cbuf:
            keys[e.cbuf] = e.cbuf_frames
            keys[f"{e.decision}->{e.cbuf}"] = e.verdict_depth
    return keys


def _minimum(plan: TopPlan, key: str) -> tuple[int, str]:
    for e in plan.exits:
        if key == f"id{e.index}":
            return MIN_ID_FIFO, f"id FIFO of segment {e.index} (ids)"
        if e.cbuf and key == e.cbuf:
            return MIN_CBUF_FRAMES, f"conditional buffer {e.cbuf} (frames)"
        if e.cbuf and key == f"{e.decision}->{e.cbuf}":
            return MIN_VERDICT, f"verdict FIFO of {e.cbuf} (verdicts)"
    return MIN_FIFO_WORDS, f"stream FIFO {key} (words)"


def apply_depths(plan: TopPlan, depths: Mapping[str, int] | None) -> None:
    """Set the plan's depths named in `depths` (keys of `depth_keys`); unknown keys refused."""
    if not depths:
        return
    known = depth_keys(plan)
    unknown = sorted(set(depths) - set(known))
    if unknown:
        raise ConfigError(
            f"generate_top(depths=...): unknown keys {unknown}. Fix: use keys of this design: "
            f"{sorted(known)}."
        )
    for key, value in depths.items():
        v = int(value)
        for e in plan.exits:
            if key == f"id{e.index}":
                e.id_depth = v
            elif e.cbuf and key == e.cbuf:
                e.cbuf_frames = v
            elif e.cbuf and key == f"{e.decision}->{e.cbuf}":
                e.verdict_depth = v
        if "->" in key:
            plan.fifo_depths[key] = v


def check_depths(plan: TopPlan, merge_depth: int) -> None:
    """ConfigError for the first depth below its minimum, naming its key and the minimum."""
    for key, value in depth_keys(plan).items():
        least, what = _minimum(plan, key)
        if int(value) < least:
            raise ConfigError(
                f"{what} '{key}' has depth {value}: the generated top needs at least {least}. "
                f"Fix: give generate_top(depths={{'{key}': {least}}}) or more (or raise it in "
                "the simulator's sizing / the hwdesc)."
            )
    n = len(plan.exits)
    if merge_depth < n:
        raise ConfigError(
            f"merge_depth {merge_depth}: the merge queue needs at least one slot per exit "
            f"({n}). Fix: give generate_top(merge_depth={n}) or more."
        )
