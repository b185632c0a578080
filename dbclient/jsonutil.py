"""JSON for database values: what ``json.dumps`` refuses, turned into exact strings.

``NUMERIC`` arrives as :class:`decimal.Decimal` and timestamps as
:class:`datetime.datetime`; ``json.dumps`` raises on both (the seed's Lambda
returned them as is).  Decimals become strings (a float would lose digits of a
money amount), dates and times ISO 8601 strings, UUIDs their canonical form,
bytes hex.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from typing import Any

__all__ = ["json_default", "to_json"]


def json_default(value: Any) -> Any:
    """``default=`` hook for :func:`json.dumps`."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(value: Any) -> str:
    """``json.dumps`` with :func:`json_default` and no NaN (not valid JSON)."""
    return json.dumps(value, default=json_default, allow_nan=False, separators=(",", ":"))
