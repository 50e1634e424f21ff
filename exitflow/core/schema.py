"""Typed-config machinery shared by every package: strict dict <-> dataclass conversion.

Each package declares its config section as plain dataclasses whose fields carry a one-line doc
(`opt(default, "doc")`). `from_dict` rejects unknown keys and wrong types with the key's dotted
path; value checks live in each dataclass's `__post_init__` and raise `ValueError`, which is
re-raised here as `ConfigError` naming the section. Stdlib only, so `sim` can use it beside a
board driver.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import enum
import math
import types
import typing
from typing import Any, TypeVar, cast

from exitflow.core.errors import ConfigError

__all__ = [
    "ConfigError",
    "ExtFloat",
    "check",
    "describe",
    "from_dict",
    "opt",
    "parse_ext_float",
    "to_dict",
]

T = TypeVar("T")

# A float that may also be written as an infinity in either spelling: YAML reads `.inf` as a
# float but `inf` as a string, and users write both (policy thresholds document `inf`).
ExtFloat = typing.NewType("ExtFloat", float)
_INF_WORDS = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf}


def parse_ext_float(value: Any, path: str) -> float:
    """A number, or inf/.inf/+inf/-inf/-.inf (any case) as a string; ConfigError otherwise."""
    if isinstance(value, str):
        word = value.strip().lower().replace(".inf", "inf")
        if word in _INF_WORDS:
            return _INF_WORDS[word]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ConfigError(f"{path}: expected a number or inf/-inf (.inf/-.inf), got {value!r}")
    return float(value)


def opt(default: Any, doc: str, *, neutral: bool = False) -> Any:
    """A dataclass field with a default and a one-line doc (shown by `exitflow config --describe`).

    neutral: a key added after runs were made whose default reproduces what every step made
    before it existed. At its default it is left out of the digests that decide staleness
    (`to_dict(..., digest=True)`), so adding it does not make every existing run stale. Never
    change a neutral key's default: a new default is a new behaviour; drop the flag instead.
    """
    meta = {"doc": doc, "neutral": neutral}
    if isinstance(default, (list, dict, set)) or dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _at_default(f: dataclasses.Field, value: Any) -> bool:
    if f.default is not dataclasses.MISSING:
        return to_dict(value) == to_dict(f.default)
    if f.default_factory is not dataclasses.MISSING:
        return to_dict(value) == to_dict(f.default_factory())
    return False


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if tp is ExtFloat:
        return parse_ext_float(value, path)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{path}: {value!r} fits none of {tp}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{path}: {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__} {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}")
            return tuple(
                _convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value))
            )
        item = args[0] if args else Any
        out = [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        kt, vt = args or (Any, Any)
        return {_convert(kt, k, path): _convert(vt, v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if isinstance(value, tp):
            return value
        try:
            return tp(value)
        except ValueError:
            allowed = [m.value for m in tp]
            hint = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"{path}: {value!r} is not one of {allowed}{extra}") from None
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{path}: unsupported field type {_type_name(tp)}")


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass `cls` from a plain mapping, rejecting unknown keys and wrong types."""
    where = path or "config"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cast(Any, cls)) if f.init}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        sub = f"{path}.{key}" if path else str(key)
        if key not in fields:
            hint = difflib.get_close_matches(str(key), list(fields), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(
                f"unknown key {sub!r}{extra}; allowed keys in {where}: {', '.join(fields)}"
            )
        kwargs[key] = _convert(hints[key], value, sub)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def to_dict(obj: Any, *, digest: bool = False) -> Any:
    """Plain YAML/JSON-ready data from a config dataclass (enums become their values).

    digest: leave out neutral keys (`opt(..., neutral=True)`) at their default, for digests
    that decide whether a run's outputs are stale."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_dict(getattr(obj, f.name), digest=digest)
            for f in dataclasses.fields(obj)
            if not (digest and f.metadata.get("neutral") and _at_default(f, getattr(obj, f.name)))
        }
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [to_dict(v, digest=digest) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v, digest=digest) for k, v in obj.items()}
    return obj


def describe(cls: type, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, doc) for every field of `cls`, recursing into nested sections."""
    rows = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        hint = typing.get_type_hints(cls)[f.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            rows.extend(describe(hint, key + "."))
            continue
        if f.default is not dataclasses.MISSING:
            default = to_dict(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = to_dict(f.default_factory())
        else:
            default = "(required)"
        rows.append((key, repr(default), f.metadata.get("doc", "")))
    return rows


def check(condition: bool, message: str) -> None:
    """Raise ValueError(message) when a config value is out of range (used in __post_init__)."""
    if not condition:
        raise ValueError(message)
