"""Enumerations shared by every package: what kind of policy, partition, decision unit, MVAU."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["PolicyKind"]


class PolicyKind(StrEnum):
    """Exit decision rules; integer semantics in exitflow.core.policies."""

    MAX_LOGIT = "max_logit"
    MARGIN = "margin"
    MAX_SOFTMAX = "max_softmax"
    ENTROPY = "entropy"
    PATIENCE = "patience"
    VOTING = "voting"
