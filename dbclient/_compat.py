"""The only place where dbclient relies on psycopg internals.

psycopg 3 has no public client-side deadline for a network round trip, nor a
connect timeout under libpq's 2 s floor; dbclient needs both (a hung server ACKs
TCP and keepalives forever; a Lambda with 1.5 s left cannot spend 2 s on a
connect).  Everything else goes through public API.  The internals used:

* ``Connection.wait(gen, interval, timeout)`` and ``psycopg.errors._WaitTimeout``,
  which it raises when *timeout* expires (since psycopg 3.2);
* ``Connection._connect_gen(conninfo)``, the generator ``Connection.connect``
  drives with ``waiting.wait_conn``, which resumes it every ``interval`` (0.1 s)
  even when the socket is not ready: that is where a deadline, or the news that
  the host name moved (:mod:`dbclient.connect`), can cut in.

They are checked when this module is imported: a psycopg without them raises
:class:`~dbclient.errors.PsycopgIncompatible` naming its version, and
``tests/dbclient/test_dbclient_compat.py`` checks their behaviour (not only their
names) against the installed psycopg.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import Row

from dbclient.deadline import current_deadline
from dbclient.errors import OperationTimeout, PsycopgIncompatible

__all__ = [
    "PSYCOPG_VERSION",
    "TESTED_PSYCOPG",
    "AbandonCheck",
    "BoundedWaitConnection",
    "WaitTimeout",
    "abandon_connect_when",
    "connect_gen_until",
]

PSYCOPG_VERSION: tuple[int, int] = (
    int(psycopg.__version__.split(".")[0]),
    int(psycopg.__version__.split(".")[1]),
)
#: psycopg minor versions whose internals tests/dbclient/test_dbclient_compat.py has checked.
TESTED_PSYCOPG: tuple[tuple[int, int], ...] = ((3, 3),)


def _missing() -> list[str]:
    missing = []
    if not isinstance(getattr(pg_errors, "_WaitTimeout", None), type):
        missing.append("psycopg.errors._WaitTimeout")
    if "timeout" not in inspect.signature(psycopg.Connection.wait).parameters:
        missing.append("the timeout parameter of Connection.wait")
    if not callable(getattr(psycopg.Connection, "_connect_gen", None)):
        missing.append("Connection._connect_gen")
    return missing


if _missing():
    raise PsycopgIncompatible(
        f"psycopg {psycopg.__version__} lacks {', '.join(_missing())}, which dbclient's deadlines rely on "
        f"(tested with psycopg {', '.join('.'.join(map(str, v)) for v in TESTED_PSYCOPG)}); see dbclient/_compat.py"
    )

#: Raised by ``Connection.wait(..., timeout=)`` when the wait expires.
WaitTimeout: type[psycopg.OperationalError] = pg_errors._WaitTimeout


#: Called with the address a pending connect attempt goes to (libpq's ``hostaddr``, "" when none); returns
#: the exception that abandons the attempt, or None to keep waiting.
AbandonCheck = Callable[[str], BaseException | None]

_abandon_check: contextvars.ContextVar[AbandonCheck | None] = contextvars.ContextVar(
    "dbclient_abandon_connect", default=None
)


@contextlib.contextmanager
def abandon_connect_when(check: AbandonCheck | None) -> Iterator[None]:
    """Within the block, every pending connect attempt polls *check* (see :data:`AbandonCheck`)."""
    token = _abandon_check.set(check)
    try:
        yield
    finally:
        _abandon_check.reset(token)


def connect_gen_until(
    gen: Generator[Any, Any, Any], deadline: float | None, abandon: Callable[[], BaseException | None] | None = None
) -> Generator[Any, Any, Any]:
    """Drive psycopg's connection generator *gen*, raising :class:`OperationTimeout` past *deadline*.

    ``waiting.wait_conn`` resumes the generator at least every 0.1 s, so the
    connection attempt ends within that of the deadline; the abandoned attempt's
    PGconn is closed with the generator.  *abandon*, polled at the same pace, ends
    the attempt early with the exception it returns.
    """
    try:
        item = next(gen)
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                raise OperationTimeout("no time left in the deadline to finish opening the connection")
            if abandon is not None and (reason := abandon()) is not None:
                raise reason
            ready = yield item
            item = gen.send(ready)
    except StopIteration as stop:
        return stop.value
    finally:
        gen.close()


class BoundedWaitConnection(psycopg.Connection[Row]):
    """A psycopg connection whose waits end at limits its subclass decides (hooks below).

    Every override of psycopg internals lives here; :class:`dbclient.connect.DeadlineConnection`
    only supplies the limits.
    """

    def _wait_limit_s(self) -> float | None:
        """Seconds the next network wait may take (None: unbounded)."""
        return None

    def _wait_expired(self, limit_s: float) -> BaseException:
        """The exception to raise when a wait hit :meth:`_wait_limit_s`."""
        return OperationTimeout(f"no answer from the server within {limit_s:.1f} s")

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        """Consume *gen* like :meth:`psycopg.Connection.wait`, but never past :meth:`_wait_limit_s`."""
        limit = self._wait_limit_s()
        if timeout is not None:
            limit = timeout if limit is None else min(limit, timeout)
        try:
            return super().wait(gen, interval=interval, timeout=limit)
        except WaitTimeout:
            if limit is None or (timeout is not None and limit == timeout):
                raise  # the caller's own timeout (psycopg internals), not ours
            raise self._wait_expired(limit) from None

    @classmethod
    def _connect_gen(cls, conninfo: str = "") -> Generator[Any, Any, Any]:
        # psycopg's connect_timeout cannot go under 2 s; the caller's deadline (dbclient.deadline) can.
        gen = super()._connect_gen(conninfo)
        deadline = current_deadline()
        check = _abandon_check.get()
        if deadline is None and check is None:
            return gen
        abandon = None
        if check is not None:
            address = str(conninfo_to_dict(conninfo).get("hostaddr") or "")
            abandon = lambda: check(address)  # noqa: E731
        return connect_gen_until(gen, deadline, abandon)
