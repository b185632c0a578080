"""Plain property values: unknowns made explicit, and coercion of what the engine sends to Python types.

Property values arrive from the engine with camelCase keys.  During a preview,
values the provider computes (ids, ARNs, names generated at create time) are
*unknown*.  ``pulumi_policy`` wraps properties in a proxy that raises
``UnknownValueError`` when such a value is read, and turns that into a
"can't run policy" advisory.  Rules read the raw values instead
(:func:`plain`), see unknowns as :data:`UNKNOWN`, and decide from property
dependencies (which resource a property was computed from) rather than guess.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)

T = TypeVar("T")


class _Unknown:
    """A value the engine does not know yet (computed by the provider at create time)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Any = _Unknown()

_UNKNOWN_SENTINELS = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


def plain(value: Any) -> Any:
    """Unwrap pulumi_policy's unknown-checking proxies into plain dicts/lists with :data:`UNKNOWN`.

    The proxies expose their wrapped container under the ``"__target"`` key (that is how
    ``pulumi_policy`` itself serializes them); reading it never raises.
    """
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        try:
            target = value["__target"]
        except (KeyError, TypeError):
            target = None
        if isinstance(target, dict):
            return {k: plain(v) for k, v in target.items()}
        return {k: plain(_safe_get(value, k)) for k in value}
    if hasattr(value, "__len__") and hasattr(value, "__getitem__"):
        try:
            target = value["__target"]
        except (KeyError, TypeError, IndexError):
            target = None
        if isinstance(target, list):
            return [plain(v) for v in target]
    return value


def _safe_get(mapping: Mapping[str, Any], key: str) -> Any:
    try:
        return mapping[key]
    except Exception:  # noqa: BLE001 - an unknown value under a foreign proxy
        return UNKNOWN


def as_bool(value: Any) -> bool | None:
    """True/False, or None when unset or unknown."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or is_unknown(value):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_list(value: Any) -> list[Any]:
    """A list property; unset and unknown give an empty list (check :func:`is_unknown` first if it matters)."""
    return list(value) if isinstance(value, list) else []


def json_of(value: Any, kind: type[T]) -> T | None:
    """A property the provider takes as JSON text or as the decoded value: the *kind* (dict or list) it
    holds, None if unknown, malformed or of another kind."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, kind) else None


def policy_json(value: Any) -> dict[str, Any] | None:
    """An IAM policy document from a property (JSON string or object), None if unknown or malformed."""
    return json_of(value, dict)
