"""Field checks of hwdesc.json (exitflow.core.hwdesc): each names the entry, the key and the fix."""

from __future__ import annotations

import math
from typing import Any

from exitflow.core.errors import ConfigError
from exitflow.core.kinds import PolicyKind

__all__ = [
    "HwDescError",
    "check_policy",
    "get",
    "get_count",
    "get_fraction",
    "get_resources",
    "get_threshold",
    "objects",
]

MISSING = object()
_INF = {"inf": math.inf, "-inf": -math.inf}


class HwDescError(ConfigError):
    """The hardware description is malformed or inconsistent."""


def get(d: dict, key: str, kind: type | tuple, where: str, default: Any = MISSING) -> Any:
    """d[key] checked against `kind`; a missing (or null) key takes `default` or raises."""
    if key not in d or d[key] is None:
        if default is MISSING:
            raise HwDescError(f"{where}: missing '{key}' (docs/hwdesc.md lists the fields)")
        return default
    value = d[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise HwDescError(f"{where}: '{key}' must be {kinds[0].__name__}, got {value!r}")
    if float in kinds and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kinds):
        raise HwDescError(f"{where}: '{key}' must be {kinds[0].__name__}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise HwDescError(f"{where}: '{key}' must be finite, got {value!r}")
    return value


def get_count(d: dict, key: str, where: str, minimum: int = 1, default: Any = MISSING) -> Any:
    """An integer >= minimum (or `default` when absent)."""
    value = get(d, key, int, where, default)
    if value is not None and value < minimum:
        raise HwDescError(f"{where}: '{key}' must be an integer >= {minimum}, got {value}")
    return value


def get_fraction(d: dict, key: str, where: str) -> float | None:
    """An optional number in (0, 1]."""
    value = get(d, key, float, where, None)
    if value is not None and not 0 < value <= 1:
        raise HwDescError(f"{where}: '{key}' must be in (0, 1], got {value}")
    return value


def get_threshold(d: dict, key: str, where: str) -> float | None:
    """An optional integer threshold: an integer, or "inf" (never fires) / "-inf" (always)."""
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value in _INF:
        return _INF[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HwDescError(f"{where}: '{key}' must be an integer or 'inf'/'-inf', got {value!r}")
    if not math.isfinite(value) or value != int(value):
        raise HwDescError(
            f"{where}: '{key}' must be an integer (the decision unit compares integers), "
            f"got {value!r}"
        )
    return float(value)


def get_resources(d: dict, where: str) -> dict[str, float]:
    """The optional `resources` mapping: every value a finite number >= 0."""
    res = get(d, "resources", dict, where, {})
    out = {}
    for k, v in res.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise HwDescError(f"{where}: resources['{k}'] must be a number >= 0, got {v!r}")
        out[str(k)] = float(v)
    return out


def objects(d: dict, key: str, where: str) -> list[tuple[int, dict]]:
    """(index, entry) of the optional list `key`, every entry an object."""
    items = d.get(key) or []
    if not isinstance(items, list):
        raise HwDescError(f"{where}: '{key}' must be a list, got {type(items).__name__}")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise HwDescError(f"{where}: {key}[{i}]: expected an object, got {item!r}")
    return list(enumerate(items))


def check_policy(pol: dict, where: str) -> None:
    """The `policy` object: a known kind, thresholds (numbers or "inf"/"-inf"), params."""
    kind = get(pol, "kind", str, where)
    if kind not in {k.value for k in PolicyKind}:
        raise HwDescError(
            f"{where}: 'kind' must be one of {[k.value for k in PolicyKind]}, got {kind!r}"
        )
    thresholds = get(pol, "thresholds", list, where, [])
    for i, t in enumerate(thresholds):
        ok = t in _INF if isinstance(t, str) else not isinstance(t, bool)
        if not ok or not isinstance(t, (int, float, str)):
            raise HwDescError(
                f"{where}: thresholds[{i}] must be a number or 'inf'/'-inf', got {t!r}"
            )
    get(pol, "params", dict, where, {})
