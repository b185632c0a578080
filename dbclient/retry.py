"""Run a transaction, and retry it only when that is safe.

:func:`run_transaction` runs ``fn(conn)`` inside one transaction and commits it.
On failure it looks at the error's SQLSTATE (:func:`classify`), never at its
message text:

=====================================================  ======================  =====================================
failure                                                class                   what happens
=====================================================  ======================  =====================================
08xxx, 57P01-57P03, lost connection (no SQLSTATE),     ``RECONNECT``           connection discarded, transaction
client deadline (:class:`~dbclient.connect.OperationTimeout`)                  retried on a new one
25006 read-only transaction (a writer that became a     ``RECONNECT``           as above: the next connection finds
reader after failover)                                                         the new primary
40001 serialization failure, 40P01 deadlock             ``RETRY``               transaction retried (same connection)
28P01, 28000, login rejected                            ``AUTH``                credentials refreshed once, retried
anything else (syntax, constraint, …)                   ``NEVER``               raised at once
=====================================================  ======================  =====================================

Retries wait with exponential backoff and full jitter (:class:`Backoff`), within
an overall deadline that also bounds every network wait of the transaction.

COMMIT is special.  When the connection is lost after COMMIT was sent, the
transaction may or may not have committed.  Without an idempotency key the
library raises :class:`CommitOutcomeUnknown` rather than guess.  With a key, the
key (and ``fn``'s JSON result) is written in the same transaction, first thing,
into ``dbclient_idempotency_keys`` (``dbclient/schema.sql``); after a lost
COMMIT the library looks the key up and returns the stored result instead of
running ``fn`` again.  The lookup is the next attempt like any retry: after the
backoff sleep, on a new connection (a fresh name resolution, so it reaches the
new primary rather than the address that just failed), reported to ``on_retry``,
and counted against the attempts and the deadline.  Because the key row is inserted before ``fn`` runs, a
retry that races a COMMIT still in flight waits on that row's lock and then sees
the committed key: the work is never applied twice.

``connection_source`` is either

* a pool, or anything with a ``connection(timeout=...)`` context manager
  (:class:`psycopg_pool.ConnectionPool`, :class:`SingleConnection`): the
  connection goes back to it after each attempt, closed if it is broken, or
* a factory, a callable returning a new connection (``lambda: connect(settings)``):
  one connection per attempt, closed afterwards.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import math
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import psycopg
from psycopg import IsolationLevel, sql

from dbclient.connect import DeadlineConnection
from dbclient.deadline import connect_deadline
from dbclient.errors import CommitOutcomeUnknown, EndpointMoved, LoginRejected, RetriesExhausted
from dbclient.jsonutil import to_json

__all__ = [
    "Backoff",
    "ConnectionSource",
    "ErrorClass",
    "IDEMPOTENCY_TABLE",
    "SingleConnection",
    "classify",
    "ensure_schema",
    "run_read",
    "run_transaction",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The least time worth a final attempt before the deadline (a connect and a short transaction in-region).
_FINAL_ATTEMPT_S = 0.1

#: Table holding idempotency keys and results (created by ``dbclient/schema.sql``).
IDEMPOTENCY_TABLE = "dbclient_idempotency_keys"


class ErrorClass(enum.Enum):
    """What to do about a failure."""

    #: The connection is gone or unusable: discard it and retry on a new one.
    RECONNECT = "reconnect"
    #: The transaction lost a race (serialization failure, deadlock): retry it.
    RETRY = "retry"
    #: The server rejected the credentials: refresh them once, then retry.
    AUTH = "auth"
    #: Not retryable: a bug, bad data or a constraint.
    NEVER = "never"


_RECONNECT_STATES = frozenset({"57P01", "57P02", "57P03", "25006"})
_RETRY_STATES = frozenset({"40001", "40P01"})
_AUTH_STATES = frozenset({"28P01", "28000"})


def classify(exc: BaseException) -> ErrorClass:
    """Classify *exc* by SQLSTATE (see the module docstring for the table).

    Errors without a SQLSTATE are connection-level when they are
    :class:`psycopg.OperationalError` (libpq reports a lost connection, a refused
    or timed-out connect, and psycopg_pool a checkout timeout, that way), and
    :class:`LoginRejected` is an auth failure.  Everything else is ``NEVER``.
    """
    if isinstance(exc, LoginRejected):
        return ErrorClass.AUTH
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:
            return ErrorClass.RECONNECT if isinstance(exc, psycopg.OperationalError) else ErrorClass.NEVER
        if state.startswith("08") or state in _RECONNECT_STATES:
            return ErrorClass.RECONNECT
        if state in _RETRY_STATES:
            return ErrorClass.RETRY
        if state in _AUTH_STATES:
            return ErrorClass.AUTH
        return ErrorClass.NEVER
    if isinstance(exc, ConnectionError):
        return ErrorClass.RECONNECT
    return ErrorClass.NEVER


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt *n* sleeps ``uniform(0, min(cap_s, base_s * 2**n))``.

    Every sleep is at least *min_s* (which bounds the attempts a budget can hold).
    *cap_s* bounds how late a client notices a server that is back: a crashed
    primary refuses connects at once, so the client is asleep when the new one
    starts to accept writes and resumes at most ``cap_s`` (plus one connect) later.
    """

    base_s: float = 0.05
    cap_s: float = 0.5
    min_s: float = 0.01

    def __post_init__(self) -> None:
        if not 0 < self.min_s <= self.base_s <= self.cap_s:
            raise ValueError(f"Backoff needs 0 < min_s <= base_s <= cap_s; got min_s={self.min_s}, "
                             f"base_s={self.base_s}, cap_s={self.cap_s}")

    def ceiling_s(self, attempt: int) -> float:
        """Upper bound of the sleep after failed attempt number *attempt* (0-based)."""
        return min(self.cap_s, self.base_s * (2 ** min(attempt, 62)))

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """The sleep after failed attempt number *attempt*: uniform in ``[0, ceiling_s(attempt)]``, at least *min_s*."""
        return max(self.min_s, (rng or random).uniform(0.0, self.ceiling_s(attempt)))


@runtime_checkable
class ConnectionSource(Protocol):
    """Something that lends connections: ``with source.connection(timeout=...) as conn``."""

    def connection(self, timeout: float | None = None) -> AbstractContextManager[psycopg.Connection[Any]]: ...


class Refreshable(Protocol):
    def refresh(self) -> object: ...


Source = ConnectionSource | Callable[[], psycopg.Connection[Any]]


class SingleConnection:
    """One connection, kept open between uses and reopened after a failure (the Lambda pattern).

    Not a pool: one caller at a time (a lock serializes users).  ``factory`` opens a
    new connection, e.g. ``lambda: connect(settings)``.
    """

    def __init__(self, factory: Callable[[], psycopg.Connection[Any]]) -> None:
        self._factory = factory
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self.opened = 0  #: connections opened so far (for tests and metrics)

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        if not self._lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            raise psycopg.OperationalError("SingleConnection is busy")
        try:
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                self._conn = None
                conn = self._factory()
                self.opened += 1
                self._conn = conn
            try:
                yield conn
            finally:
                if conn.closed or conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    with contextlib.suppress(Exception):
                        conn.close()
                    self._conn = None
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


@contextlib.contextmanager
def _borrow(source: Source, deadline: float) -> Iterator[psycopg.Connection[Any]]:
    """A connection from *source*, obtained (checkout or connect) within *deadline*."""
    with connect_deadline(deadline):
        if isinstance(source, ConnectionSource):
            cm = source.connection(timeout=max(0.0, deadline - time.monotonic()))
            conn = cm.__enter__()
        else:
            cm = None
            conn = source()
    try:
        yield conn
    except BaseException as exc:
        if cm is not None:
            if not cm.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            conn.close()
            raise
    else:
        if cm is not None:
            cm.__exit__(None, None, None)
        else:
            conn.close()


@contextlib.contextmanager
def _bounded(conn: psycopg.Connection[Any], deadline: float) -> Iterator[None]:
    if isinstance(conn, DeadlineConnection):
        with conn.deadline(deadline):
            yield
    else:
        yield


def _discard(conn: psycopg.Connection[Any]) -> None:
    """Close *conn* so that neither a pool nor :class:`SingleConnection` hands it out again."""
    with contextlib.suppress(Exception):
        conn.close()


def _quiet_rollback(conn: psycopg.Connection[Any]) -> None:
    if conn.closed:
        return
    try:
        conn.rollback()
    except Exception:
        _discard(conn)


class _CommitLost(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Replay(Exception):
    """The idempotency key was already committed: return its stored result."""

    def __init__(self, result: Any) -> None:
        super().__init__("idempotency key already committed")
        self.result = result


_SELECT_KEY = sql.SQL("SELECT result FROM {} WHERE key = %s").format(sql.Identifier(IDEMPOTENCY_TABLE))
_CLAIM_KEY = sql.SQL("INSERT INTO {} (key) VALUES (%s) ON CONFLICT (key) DO NOTHING RETURNING key").format(
    sql.Identifier(IDEMPOTENCY_TABLE)
)
_STORE_RESULT = sql.SQL("UPDATE {} SET result = %s::jsonb WHERE key = %s").format(sql.Identifier(IDEMPOTENCY_TABLE))


def _attempt(
    conn: psycopg.Connection[Any],
    fn: Callable[[psycopg.Connection[Any]], T],
    key: str | None,
    isolation_level: IsolationLevel | None,
) -> T | Any:
    """One try: BEGIN, [claim key], fn, [store result], COMMIT.  Raises _CommitLost / _Replay."""
    saved_autocommit, saved_isolation = conn.autocommit, conn.isolation_level
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.rollback()
    if saved_autocommit:
        conn.autocommit = False
    if isolation_level is not None:
        conn.isolation_level = isolation_level
    try:
        try:
            if key is not None:
                claimed = conn.execute(_CLAIM_KEY, (key,)).fetchone()
                if claimed is None:
                    row = conn.execute(_SELECT_KEY, (key,)).fetchone()
                    raise _Replay(row[0] if row else None)
            result: Any = fn(conn)
            if key is not None:
                result = json.loads(to_json(result))
                conn.execute(_STORE_RESULT, (to_json(result), key))
        except BaseException:
            _quiet_rollback(conn)
            raise
        try:
            conn.commit()
        except Exception as exc:
            if classify(exc) is ErrorClass.RECONNECT:
                raise _CommitLost(exc) from exc
            _quiet_rollback(conn)
            raise
        return result
    finally:
        if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            with contextlib.suppress(Exception):
                conn.isolation_level = saved_isolation
                conn.autocommit = saved_autocommit


def _lookup_key(source: Source, key: str, deadline: float) -> tuple[bool, Any]:
    """(found, result) for *key*, read on a fresh connection in its own transaction."""
    with _borrow(source, deadline) as conn, _bounded(conn, deadline):
        try:
            row = conn.execute(_SELECT_KEY, (key,)).fetchone()
            conn.rollback()
        except BaseException:
            _discard(conn)
            raise
    # psycopg decodes jsonb to Python values itself.
    return (row is not None, row[0] if row is not None else None)


def run_transaction(
    fn: Callable[[psycopg.Connection[Any]], T],
    *,
    connection_source: Source,
    idempotency_key: str | None = None,
    deadline_s: float = 30.0,
    max_attempts: int | None = None,
    unsafe_to_retry: bool = False,
    isolation_level: IsolationLevel | None = None,
    credentials: Refreshable | None = None,
    backoff: Backoff = Backoff(),
    on_retry: Callable[[int, BaseException, ErrorClass, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run ``fn(conn)`` in one transaction, commit, and return its result; retry when safe.

    ``fn`` may run more than once (each time in a new transaction, possibly on a new
    connection), so it must not commit or roll back itself and should have no effect
    outside the database (or pass ``unsafe_to_retry=True``).

    :param connection_source: a pool / :class:`SingleConnection` or a connection factory
        (see the module docstring).
    :param idempotency_key: makes the transaction safe to retry after a lost COMMIT.
        The result must be JSON-serializable (decimals and datetimes are turned into
        strings); with a key the JSON form is returned, on the first run as on a replay.
    :param deadline_s: overall budget for all attempts, backoff sleeps and network waits.  A retryable
        failure that persists is raised (:class:`RetriesExhausted`) at the deadline, not before: the last
        sleep is shortened so that a final attempt still fits.
    :param max_attempts: at most this many attempts.  None (the default): the deadline alone ends
        retrying (a failover keeps connections failing for a minute or two, and a fixed count would
        give up in the middle of it); the count is then bounded by what the budget can hold, every
        sleep being at least ``backoff.min_s``.
    :param unsafe_to_retry: ``fn`` has effects outside the transaction: once it has
        started, no failure is retried (a failure to get a connection still is).
    :param isolation_level: e.g. ``IsolationLevel.SERIALIZABLE``.
    :param credentials: refreshed once (``credentials.refresh()``) after an auth failure.
    :param on_retry: called with (attempt, exception, class, sleep seconds) before each retry,
        including the idempotency-key lookup that follows a lost COMMIT (it counts as an attempt).
    :raises CommitOutcomeUnknown: the connection was lost during COMMIT and there is no key, or
        the key could not be looked up within the deadline or *max_attempts*.
    :raises RetriesExhausted: a retryable failure persisted past *max_attempts* or the deadline.
    """
    if max_attempts is not None and max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    deadline = time.monotonic() + deadline_s
    # Without a count from the caller, the most attempts the budget can hold: one per minimum sleep,
    # plus the credential refresh (no sleep) and the final attempt (a shortened sleep).
    attempt_limit = max_attempts if max_attempts is not None else math.ceil(max(0.0, deadline_s) / backoff.min_s) + 3
    refreshed = False
    attempt = 0
    #: A COMMIT was lost: before fn runs again, look the idempotency key up (itself an attempt).
    outcome_unknown = False
    while True:
        started = False
        try:
            if outcome_unknown:
                assert idempotency_key is not None
                found, stored = _lookup_key(connection_source, idempotency_key, deadline)
                if found:
                    logger.info("commit outcome resolved by idempotency key: committed")
                    return stored  # type: ignore[no-any-return]
                logger.info("commit outcome resolved by idempotency key: not committed, retrying")
                outcome_unknown = False
            with _borrow(connection_source, deadline) as conn:
                started = True
                try:
                    with _bounded(conn, deadline):
                        return _attempt(conn, fn, idempotency_key, isolation_level)  # type: ignore[no-any-return]
                except _Replay as replay:
                    return replay.result  # type: ignore[no-any-return]
                except _CommitLost:
                    _discard(conn)
                    raise
                except BaseException as exc:
                    if classify(exc) is ErrorClass.RECONNECT:
                        _discard(conn)
                    raise
        except _CommitLost as lost:
            if idempotency_key is None:
                raise CommitOutcomeUnknown(
                    "the connection was lost during COMMIT; the transaction may or may not have committed"
                ) from lost.cause
            # The key is looked up on the next attempt: after the same backoff as any retry, on a new
            # connection (so a new name resolution), not at once on the address that just failed.
            outcome_unknown = True
            error: BaseException = lost.cause
            kind = ErrorClass.RECONNECT
        except Exception as exc:
            error, kind = exc, classify(exc)
            if kind is ErrorClass.NEVER or (unsafe_to_retry and started):
                raise
            if kind is ErrorClass.AUTH:
                if refreshed or credentials is None:
                    raise
                with connect_deadline(deadline):  # the provider's AWS call stays in budget
                    credentials.refresh()
                refreshed = True
        attempt += 1
        if kind is ErrorClass.AUTH:
            delay = 0.0
        elif isinstance(error, EndpointMoved):
            delay = backoff.min_s  # the name points elsewhere now: go there, no backoff
        else:
            delay = backoff.delay_s(attempt - 1, rng)
        remaining_s = deadline - time.monotonic()
        out_of_time = remaining_s <= _FINAL_ATTEMPT_S
        if attempt >= attempt_limit or out_of_time:
            if out_of_time and remaining_s > 0 and attempt < attempt_limit:
                sleep(remaining_s)  # too short for another attempt: the error comes at the deadline, not before
            if outcome_unknown:
                raise CommitOutcomeUnknown(
                    "the connection was lost during COMMIT and the idempotency key could not be checked "
                    f"within the deadline or attempts ({attempt} attempt{'s' if attempt > 1 else ''})"
                ) from error
            raise RetriesExhausted(
                f"gave up after {attempt} attempt{'s' if attempt > 1 else ''}: {type(error).__name__}: {error}",
                attempts=attempt,
                last=error,
            ) from error
        # A sleep that would reach the deadline is cut short, to leave time for a final attempt.
        delay = min(delay, remaining_s - _FINAL_ATTEMPT_S)
        logger.warning(
            "transaction attempt %d failed (%s, sqlstate %s)%s; retrying in %.3f s",
            attempt, kind.value, getattr(error, "sqlstate", None),
            ", commit outcome unknown" if outcome_unknown else "", delay,
        )
        if on_retry is not None:
            on_retry(attempt, error, kind, delay)
        if delay:
            sleep(delay)


#: Readers that failed recently -> monotonic time until which they are skipped.
_reader_cooldown: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def run_read(
    fn: Callable[[psycopg.Connection[Any]], T],
    *,
    readers: Sequence[Source] = (),
    writer: Source,
    deadline_s: float = 10.0,
    max_attempts: int = 3,
    reader_cooldown_s: float = 30.0,
    **kwargs: Any,
) -> T:
    """Run a read-only ``fn`` on the first reader that works, falling back to the writer.

    Each reader gets one attempt within half the remaining budget; a reader that
    fails is then skipped for *reader_cooldown_s* seconds, so a reader that is down
    (or unreachable: a connect timeout) costs one slow call, not one per request.
    The writer gets the rest of the budget with normal retries.  Errors of class
    ``NEVER`` (a bug in the query) are raised at once, without trying other endpoints.
    """
    deadline = time.monotonic() + deadline_s
    for reader in readers:
        now = time.monotonic()
        remaining = deadline - now
        if remaining <= 0:
            break
        if _cooling_down(reader, now):
            continue
        try:
            return run_transaction(fn, connection_source=reader, deadline_s=remaining / 2, max_attempts=1, **kwargs)
        except RetriesExhausted as exc:
            failure: BaseException = exc.last
        except psycopg.Error as exc:
            if classify(exc) is ErrorClass.NEVER:
                raise
            failure = exc
        _cool_down(reader, time.monotonic() + reader_cooldown_s)
        logger.warning("reader failed (%s); skipping it for %.0f s", type(failure).__name__, reader_cooldown_s)
    return run_transaction(
        fn, connection_source=writer, deadline_s=max(0.0, deadline - time.monotonic()), max_attempts=max_attempts, **kwargs
    )


def _cooling_down(reader: Source, now: float) -> bool:
    try:
        return _reader_cooldown.get(reader, 0.0) > now
    except TypeError:  # not weak-referenceable: no cooldown
        return False


def _cool_down(reader: Source, until: float) -> None:
    with contextlib.suppress(TypeError):
        _reader_cooldown[reader] = until


def ensure_schema(conn: psycopg.Connection[Any]) -> None:
    """Create the idempotency-key table if it is missing (``dbclient/schema.sql`` has the DDL)."""
    from importlib import resources

    ddl = resources.files("dbclient").joinpath("schema.sql").read_text()
    statement = ddl.split("-- end idempotency", 1)[0]
    with conn.transaction():
        conn.execute(statement.encode())
