"""Reading and validating `build/hwdesc.json`: the schema lives in exitflow.core.hwdesc, shared
with the writer (exitflow.hw.hwdesc); this module keeps sim's import path for it."""

from __future__ import annotations

from exitflow.core.hwdesc import (
    SCHEMA,
    CondBufferDesc,
    ExitDesc,
    HwDesc,
    HwDescError,
    NodeDesc,
    PartitionDesc,
    StreamDesc,
)
from exitflow.core.hwdesc_load import hwdesc_from_dict, load_hwdesc

__all__ = [
    "SCHEMA",
    "CondBufferDesc",
    "ExitDesc",
    "HwDesc",
    "HwDescError",
    "NodeDesc",
    "PartitionDesc",
    "StreamDesc",
    "hwdesc_from_dict",
    "load_hwdesc",
]
