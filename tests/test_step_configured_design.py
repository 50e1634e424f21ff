"""Step.configured_design: with flow.dse, the search's own inputs (train, explore, dse) work on
the config as written; every other step, a user's own included, on the design it chose."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from exitflow import runner
from exitflow.steps import STEPS, Step


def test_the_search_s_own_steps_declare_the_configured_design() -> None:
    assert {n for n, s in STEPS.items() if s.configured_design} == {"train", "explore", "dse"}


def test_a_step_sees_the_chosen_design_unless_it_declares_the_configured_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chosen = SimpleNamespace(name="chosen")
    monkeypatch.setattr("exitflow.step_explore.design_config", lambda cfg, layout: chosen)
    configured = SimpleNamespace(name="configured")
    run = SimpleNamespace(cfg=configured, layout=None)
    with runner._step_config(Step("mine", lambda r: None), run):
        assert run.cfg is chosen
    assert run.cfg is configured  # restored on leaving
    with runner._step_config(STEPS["train"], run):
        assert run.cfg is configured
