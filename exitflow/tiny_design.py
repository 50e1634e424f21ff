"""The tiny design: a config that runs the whole flow in seconds, for examples and tests.

The synthetic 16x16 dataset and the `tiny` model preset learn the synthetic patterns to about
95 % in a few seconds; the FINN build of it takes a few more. examples/api_flow.py runs it
without -c; tests that need a real run start from it.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["TINY_DESIGN", "tiny_design"]

TINY_DESIGN: dict[str, Any] = {
    "name": "tiny",
    "dataset": {"name": "synthetic", "synthetic_samples": 2000},
    "model": {"preset": "tiny"},
    "train": {"epochs": 3, "batch_size": 64, "threads": 1},
    "policy": {"kind": "margin", "max_accuracy_drop": 0.05},
    "hw": {"target_fps": 20000, "verify_samples": 20, "verify_step_samples": 5},
    "sim": {"size_buffers": False},
}


def tiny_design(name: str, **sections: dict[str, Any] | None) -> dict[str, Any]:
    """A fresh copy of TINY_DESIGN (for exitflow.config_from_dict) named `name`.

    sections: each is merged into the section of that name (its keys replace the tiny design's,
    a new section is added); None removes the section, so its defaults apply.
    """
    cfg = copy.deepcopy(TINY_DESIGN)
    cfg["name"] = name
    for section, keys in sections.items():
        if keys is None:
            cfg.pop(section, None)
        else:
            cfg[section] = {**cfg.get(section, {}), **copy.deepcopy(keys)}
    return cfg
