"""Config section of the RTL co-simulation step (`exitflow cosim`; stdlib only)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from exitflow.core.schema import check, opt

__all__ = ["CosimMode", "RtlConfig"]


class CosimMode(StrEnum):
    """Whether the cosim step runs, and what it does with a design it cannot co-simulate (no
    on/off: YAML reads those as booleans)."""

    AUTO = "auto"  # run; a design or machine that cannot is skipped, with the reason recorded
    REQUIRED = "required"  # run; no Verilator or an HLS layer is an error
    SKIP = "skip"  # skip (recorded as skipped, with this key as the reason)


@dataclass
class RtlConfig:
    """Co-simulation of the whole generated RTL top in Verilator (docs/rtl.md, "The cosim step")."""

    cosim: CosimMode = opt(
        CosimMode.AUTO,
        "required: co-simulate the generated top (no Verilator: ToolMissingError; an HLS layer: "
        "PrerequisiteError); auto: the same, but such a design or machine is skipped with its "
        "reason in rtl/report.json; skip: do not co-simulate",
    )
    frames: int = opt(
        300,
        "test frames co-simulated, arriving as sim.arrival says (past the 1,000 images "
        "export/reference.npz holds, images come from the dataset's test split)",
    )
    first_image: int = opt(0, "index in export/reference.npz of the first frame co-simulated")
    backpressure: float = opt(
        0.0,
        "probability that the output stream's TREADY is low in a cycle (the cycle simulator "
        "models none: above 0 the throughput comparison is indicative only)",
    )
    seed: int = opt(0, "seed of the back-pressure pattern")
    max_fps_gap: float | None = opt(
        None,
        "fail (VerificationError) when rtl_fps / sim_fps differs from 1 by more than this; "
        "None: report the ratio only",
    )
    jobs: int = opt(1, "C++ compile jobs of the Verilator build (does not change the outputs)")
    workers: int = opt(
        1,
        "Verilator simulations at once, on contiguous chunks of the frames, each from reset "
        "(every frame is still checked; throughput and result order come from the first chunk)",
    )

    def __post_init__(self) -> None:
        check(self.frames >= 1, "frames must be >= 1")
        check(self.first_image >= 0, "first_image must be >= 0")
        check(0.0 <= self.backpressure < 1.0, "backpressure is a probability in [0, 1)")
        check(self.max_fps_gap is None or self.max_fps_gap >= 0, "max_fps_gap must be >= 0")
        check(self.jobs >= 1, "jobs must be >= 1")
        check(self.workers >= 1, "workers must be >= 1")
