"""Config section of the hardware flow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from exitflow.core.errors import ConfigError
from exitflow.core.kinds import DecisionImpl, MvauStyle
from exitflow.core.schema import check, opt

__all__ = [
    "Board",
    "DecisionImpl",
    "HwConfig",
    "InnerFifos",
    "LoadShedding",
    "MvauStyle",
    "check_keep_exits",
    "check_override_partitions",
    "partition_names",
]


class Board(StrEnum):
    """Target boards (part, clock and budget in hw.boards)."""

    PYNQ_Z1 = "Pynq-Z1"
    PYNQ_Z2 = "Pynq-Z2"
    ZCU104 = "ZCU104"
    KV260 = "KV260_SOM"
    ULTRA96_V2 = "Ultra96-V2"


class LoadShedding(StrEnum):
    """Conditional buffers shed frames they cannot take (forced exits, docs/simulator.md).

    Not on/off: YAML reads an unquoted on/off as a boolean."""

    AUTO = "auto"  # enabled where the no-exit throughput falls below the baseline's
    ENABLED = "enabled"
    DISABLED = "disabled"


class InnerFifos(StrEnum):
    """FIFOs between the layers of a partition (docs/rtl.md, "Inner FIFOs")."""

    NONE = "none"  # none: FINN's layers stall each other (fmnist3 stage2: 1.74x its slowest layer)
    SIZED = "sized"  # as deep as a Verilator run with deep FIFOs filled them (needs all-RTL)


@dataclass
class HwConfig:
    """FINN build of the gated early-exit dataflow."""

    board: Board = opt(Board.PYNQ_Z2, "target board")
    clock_mhz: float | None = opt(None, "fabric clock; None: the board's default")
    target_fps: float = opt(20000.0, "frames/s the first stage is folded for")
    stage_rate_fractions: list[float] | None = opt(
        None, "per-stage rate as a fraction of target_fps; None: the continuing fraction"
    )
    fifo_depth: int = opt(32, "default depth of inter-partition stream FIFOs")
    cond_buffer_frames: int | None = opt(
        None,
        "frames each conditional buffer holds; None: the fewest that hide the decision latency "
        "(`exitflow simulate` reports what runs of continuing frames need)",
    )
    start_step: str | None = opt(None, "first build step to run (resume from its checkpoint)")
    stop_step: str | None = opt(None, "last build step to run")
    verify_samples: int = opt(
        1000, "test images the partitions and the composed design are checked on against quant/"
    )
    verify_step_samples: int = opt(
        100, "test images each build step's output is verified on by execution"
    )
    decision_impl: DecisionImpl = opt(
        DecisionImpl.RTL, "exit-decision units: rtl (own op) or finn (Thresholding/MVAU)"
    )
    folding_overrides: dict[str, dict[str, dict[str, int]]] = opt(
        {}, "partition -> layer -> {PE/SIMD: value}, applied after automatic folding"
    )
    mvau_style: MvauStyle = opt(MvauStyle.AUTO, "matrix-vector units in LUTs or DSPs")
    # none by default: sized changes the partitions' graphs, so today's builds would be stale
    inner_fifos: InnerFifos = opt(
        InnerFifos.NONE,
        "FIFOs between a partition's layers: none, or sized by a Verilator simulation "
        "(step_size_inner_fifos; needs every layer in RTL, hw.mvau_style: dsp)",
        neutral=True,  # none builds what every build made before the key existed
    )
    baseline: bool = opt(True, "also build the single-exit baseline (same resource budget)")
    workers: int = opt(1, "processes for python-mode verification")
    # Off by default until the generated RTL top sheds exactly as the simulator predicts
    # (tests/test_shedding_rtl.py's whole-top test is still an expected failure): a default of
    # auto would make `simulate` report a shedding design that cosim and bitstream do not build.
    load_shedding: LoadShedding = opt(
        LoadShedding.DISABLED,
        "a full conditional buffer lets the frame leave at its exit, flagged forced: auto "
        "(enabled if the no-exit stream would run below the single-exit baseline), enabled, "
        "disabled (the simulator models it; the RTL top sheds only in tests so far)",
    )
    keep_exits: list[int] | None = opt(
        None,
        "non-final exits (trained exit indices) the hardware has; a left-out exit gets no head, "
        "decision unit, buffer or fork and its policy threshold must be inf; None: every exit",
        # None builds every exit, as builds did before the key existed; neutral since its
        # digest entry made every run built before it stale (a run built since with it at None
        # is stale once, a rebuild's cost, against every older one's)
        neutral=True,
    )
    allow_over_budget: bool = opt(
        False, "keep a design that needs more than the board has (else `build` fails, exit 8)"
    )

    def __post_init__(self) -> None:
        check(self.clock_mhz is None or self.clock_mhz > 0, "clock_mhz must be > 0")
        check(self.target_fps > 0, "target_fps must be > 0")
        if self.stage_rate_fractions is not None:
            check(
                all(0 < f <= 1 for f in self.stage_rate_fractions),
                "stage_rate_fractions must each be in (0, 1]",
            )
        check(self.fifo_depth >= 2, "fifo_depth must be >= 2")
        check(
            self.cond_buffer_frames is None or self.cond_buffer_frames >= 1,
            "cond_buffer_frames must be >= 1",
        )
        check(self.verify_samples >= 1, "verify_samples must be >= 1")
        check(self.verify_step_samples >= 1, "verify_step_samples must be >= 1")
        check(self.workers >= 1, "workers must be >= 1")
        if self.keep_exits is not None:
            keep = self.keep_exits
            check(keep == sorted(set(keep)), "keep_exits must be increasing, without repeats")
            check(all(e >= 0 for e in keep), "keep_exits must be exit indices >= 0")


def partition_names(
    exit_after: list[int], num_stages: int, baseline: bool, keep: list[int] | None = None
) -> list[str]:
    """Names of the partitions a design with these exits has (as quant's export and
    hw.design name them): stage<k>, head<e>, decision<e> (non-final exits; with `keep`, only
    those), and with the baseline base_stage<k> and base_head<last>."""
    last = len(exit_after) - 1
    kept = [e for e in range(last) if keep is None or e in keep]
    names = [f"stage{k}" for k in range(num_stages)]
    names += [f"head{e}" for e in [*kept, last]]
    names += [f"decision{e}" for e in kept]
    if baseline:
        names += [f"base_stage{k}" for k in range(num_stages)] + [f"base_head{last}"]
    return names


def check_override_partitions(overrides: Mapping[str, object], names: list[str]) -> None:
    """ConfigError if `hw.folding_overrides` names a partition the design does not have
    (it would be silently ignored)."""
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ConfigError(
            f"hw.folding_overrides: no partition named {', '.join(map(repr, unknown))}; the "
            f"design's partitions are {', '.join(names)} (base_*: the single-exit baseline, "
            "present when hw.baseline is true)"
        )


def check_keep_exits(keep: list[int] | None, num_exits: int) -> None:
    """ConfigError if `hw.keep_exits` names an exit that is not a non-final exit."""
    if keep is None:
        return
    bad = [e for e in keep if e >= num_exits - 1]
    if bad:
        raise ConfigError(
            f"hw.keep_exits: {bad} are not non-final exits; the model's non-final exits are "
            f"{list(range(num_exits - 1))} (the final exit is always built): drop them or set "
            "hw.keep_exits: null to build every exit"
        )
