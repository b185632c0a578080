"""The caller's deadline, carried through the call stack (a context variable).

:func:`dbclient.retry.run_transaction` sets it for the whole transaction, so
that what it calls deep down (opening a connection, the password provider's AWS
call) stays inside the same budget without every function taking a parameter.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator

__all__ = ["connect_deadline", "current_deadline", "remaining_s"]

#: Absolute ``time.monotonic()`` deadline of the current operation, or None (no deadline).
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("dbclient_deadline", default=None)


@contextlib.contextmanager
def connect_deadline(at: float | None) -> Iterator[None]:
    """Within the block, connections and credential lookups give up by *at* (``time.monotonic()``).

    A deadline already in force is never extended: the earlier of the two applies.
    """
    current = _deadline.get()
    if at is not None and current is not None:
        at = min(at, current)
    token = _deadline.set(at if at is not None else current)
    try:
        yield
    finally:
        _deadline.reset(token)


def current_deadline() -> float | None:
    """The ``time.monotonic()`` deadline in force, or None."""
    return _deadline.get()


def remaining_s() -> float | None:
    """Seconds left before the deadline in force (0 when past it), or None when there is none."""
    at = _deadline.get()
    return None if at is None else max(0.0, at - time.monotonic())
