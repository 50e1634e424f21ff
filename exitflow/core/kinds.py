"""Enumerations shared by every package: what kind of policy, partition, decision unit, MVAU."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DecisionImpl", "MvauStyle", "PartitionKind", "PolicyKind"]


class PolicyKind(StrEnum):
    """Exit decision rules; integer semantics in exitflow.core.policies."""

    MAX_LOGIT = "max_logit"
    MARGIN = "margin"
    MAX_SOFTMAX = "max_softmax"
    ENTROPY = "entropy"
    PATIENCE = "patience"
    VOTING = "voting"


class PartitionKind(StrEnum):
    """What a dataflow partition of a gated design is (hwdesc.json `kind`)."""

    STAGE = "stage"  # a backbone stage
    HEAD = "head"  # an exit head (the last one: the final classifier)
    DECISION = "decision"  # an exit-decision unit after a non-final head


class DecisionImpl(StrEnum):
    """How exit-decision units are built (exitflow.hw.flow.decision explains both)."""

    RTL = "rtl"
    FINN = "finn"


class MvauStyle(StrEnum):
    """How FINN's matrix-vector units are implemented."""

    AUTO = "auto"  # the board's default (exitflow.hw.boards)
    LUT = "lut"  # MVAU_hls with LUT multipliers
    DSP = "dsp"  # FINN's RTL MVU on DSP slices (MVAU_rtl)

    def resolve(self, board_default: str) -> MvauStyle:
        """The concrete style: this one, or the board's default when AUTO."""
        style = MvauStyle(board_default) if self is MvauStyle.AUTO else self
        if style is MvauStyle.AUTO:
            raise ValueError("a board's default MVAU style must be lut or dsp, not auto")
        return style
