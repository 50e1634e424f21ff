"""Config section of the design-space exploration (`exitflow dse`, docs/dse.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from exitflow.core.schema import check, opt

__all__ = ["DseConfig", "Objective", "ResourceSource", "Shedding"]


class Objective(StrEnum):
    """What the chosen design optimises."""

    THROUGHPUT = "throughput"  # the highest validation throughput within `budget`
    RESOURCES = "resources"  # the least resource fraction that reaches `target_fps`


class ResourceSource(StrEnum):
    """Where resource counts come from."""

    AUTO = "auto"  # FINN's estimates corrected by yosys counts where build/synth.json has them
    FINN = "finn"  # FINN's estimates only


class Shedding(StrEnum):
    """Load shedding (exitflow.sim.shedding, hw.load_shedding) as a design dimension."""

    SEARCH = "search"  # every finalist with and without shedding
    DISABLED = "disabled"
    ENABLED = "enabled"

    def options(self) -> list[bool]:
        return {"search": [False, True], "disabled": [False], "enabled": [True]}[self.value]


@dataclass
class DseConfig:
    """Search over exits, thresholds, folding and buffer depths for one board's budget."""

    objective: Objective = opt(Objective.THROUGHPUT, "throughput (within budget) or resources")
    budget: float = opt(1.0, "resource fraction of the board the chosen design may use")
    target_fps: float | None = opt(None, "objective resources: validation frames/s to reach")
    max_accuracy_drop: float | None = opt(
        None, "validation accuracy drop allowed versus the final exit; None: policy's"
    )
    curve_points: int = opt(6, "threshold points taken from the calibrated trade-off curve")
    search_exits: bool = opt(True, "also try designs without some non-final exits")
    rate_slack: list[float] = opt(
        [1.0, 1.25], "later stages are folded for (reach fraction x slack) of the frame rate"
    )
    rate_floor: float = opt(0.05, "least rate fraction a stage is folded for")
    fps_points: int = opt(20, "frame rates tried per (exits, thresholds, slack), geometric")
    cycle_step: float = opt(1.12, "ratio of neighbouring target cycles per frame on the grid")
    buffer_depths: list[int] = opt([4, 8, 16, 32, 64], "conditional-buffer depths (frames)")
    floor_fraction: float | None = opt(
        None,
        "provisioned floor: no-exit throughput at least this fraction of the baseline's at the "
        "same budget, reached by folding later stages for it; None: no floor",
    )
    load_shedding: Shedding = opt(
        Shedding.SEARCH,
        "search: every simulated design with and without load shedding (a shedding design "
        "meets the floor with its no-exit throughput under shedding); disabled; enabled",
    )
    budgets: list[float] = opt(
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
        "board fractions of the iso-resource comparison with the single-exit baseline",
    )
    fps_tolerance: float = opt(
        0.01,
        "designs within this fraction of the best throughput count as equally fast: the least "
        "resource fraction among them is chosen",
    )
    sim_frames: int | None = opt(
        2000, "validation frames each candidate simulates (the first ones); None: all"
    )
    mvau_wwidth_max: int = opt(36, "FINN SetFolding's weight width per PE it starts from")
    wwidth_limit: int = opt(
        1024, "the search raises mvau_wwidth_max up to this where FINN stops short of a target"
    )
    resources: ResourceSource = opt(ResourceSource.AUTO, "auto (yosys where present) or finn")
    workers: int = opt(2, "local processes evaluating candidates")
    ray_address: str | None = opt(
        None, "evaluate on this Ray cluster ('auto', 'local' or host:port) instead"
    )

    def __post_init__(self) -> None:
        check(0 < self.budget <= 1, "budget must be in (0, 1]")
        check(self.target_fps is None or self.target_fps > 0, "target_fps must be > 0")
        check(
            self.objective != Objective.RESOURCES or self.target_fps is not None,
            "objective resources needs dse.target_fps",
        )
        check(
            self.max_accuracy_drop is None or 0 <= self.max_accuracy_drop < 1,
            "max_accuracy_drop must be in [0, 1)",
        )
        check(self.curve_points >= 1, "curve_points must be >= 1")
        check(bool(self.rate_slack) and all(s >= 1 for s in self.rate_slack), "rate_slack >= 1")
        check(0 < self.rate_floor <= 1, "rate_floor must be in (0, 1]")
        check(self.fps_points >= 2, "fps_points must be >= 2")
        check(self.cycle_step > 1, "cycle_step must be > 1")
        check(
            bool(self.buffer_depths) and all(d >= 1 for d in self.buffer_depths),
            "buffer_depths must be >= 1",
        )
        check(
            self.floor_fraction is None or 0 < self.floor_fraction <= 1,
            "floor_fraction must be in (0, 1]",
        )
        check(bool(self.budgets) and all(0 < b <= 1 for b in self.budgets), "budgets in (0, 1]")
        check(0 <= self.fps_tolerance < 1, "fps_tolerance must be in [0, 1)")
        check(self.sim_frames is None or self.sim_frames >= 100, "sim_frames must be >= 100")
        check(self.mvau_wwidth_max >= 1, "mvau_wwidth_max must be >= 1")
        check(self.wwidth_limit >= self.mvau_wwidth_max, "wwidth_limit >= mvau_wwidth_max")
        check(self.workers >= 1, "workers must be >= 1")
