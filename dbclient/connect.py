"""Connections tuned for failover: fast detection, TLS, and a client-side deadline on every operation.

A PostgreSQL client left at libpq's defaults notices a vanished server only
when the kernel gives up on the TCP connection, which takes minutes.  The
settings here bound every stage:

* ``connect_timeout_s``: establishing a connection (TCP + TLS + authentication).
* ``resolve_interval_s``: while a connect is pending the name is resolved again; when a
  failover has moved it elsewhere the connect is abandoned (:class:`~dbclient.errors.EndpointMoved`)
  rather than waited out to ``connect_timeout_s``, which libpq cannot set under 2 s.
* TCP keepalives (``keepalives_idle_s`` / ``keepalives_interval_s`` / ``keepalives_count``): an idle
  connection to a host that disappeared is noticed in ``idle + interval * count``
  seconds.
* ``tcp_user_timeout_ms``: data sent and not acknowledged for that long breaks the
  connection (a host that vanished while we were writing).
* ``statement_timeout_ms``: the server cancels a statement that runs too long.
* ``operation_timeout_s``: the client-side deadline.  None of the above fires when
  the server's *kernel* is alive and acknowledging but the server process does
  not answer (a hung or paused host): the request is ACKed, keepalives are
  ACKed, and the reply never comes.  :class:`DeadlineConnection` waits for each
  network round trip for at most the remaining time; when it expires the
  connection is closed (never reused) and :class:`OperationTimeout` is raised.

:func:`connect` returns a :class:`DeadlineConnection`, a :class:`psycopg.Connection`
subclass, so it works everywhere a psycopg connection does (including
``psycopg_pool`` with ``connection_class=DeadlineConnection``).  The psycopg internals it
needs are overridden in :class:`dbclient._compat.BoundedWaitConnection`, its base.

Secrets: :class:`ConnectionSettings` never shows its password in ``repr``, and
connection errors raised here are stripped of psycopg's ``pgconn`` attribute,
whose ``repr`` would include the password.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg.rows import Row

from dbclient import _compat
from dbclient.deadline import current_deadline
from dbclient.errors import EndpointMoved, LoginRejected, MissingSetting, OperationTimeout

__all__ = [
    "AddressWatch",
    "ConnectionSettings",
    "DeadlineConnection",
    "connect",
    "login_rejected",
    "without_pgconn",
]

#: A password, or a callable returning one (an IAM token or secret provider), or None (no password).
Password = str | Callable[[], str] | None

_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


#: libpq (and psycopg) treat any connect_timeout below 2 s as 2 s.
MIN_CONNECT_TIMEOUT_S = 2


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything needed to open a connection; defaults are chosen for failover.

    *password* may be a callable (see :mod:`dbclient.credentials`); it is called
    for every new connection, so rotated secrets and fresh IAM tokens are used.
    *sslrootcert* (a CA bundle path) switches *sslmode* ``require`` to ``verify-full``.
    """

    host: str
    dbname: str
    user: str
    password: Password = field(default=None, repr=False, compare=False)
    port: int = 5432
    sslmode: str = "require"
    sslrootcert: str | None = None
    connect_timeout_s: int = 3
    # An idle connection to a vanished host is declared dead after 2 + 1 x 3 = 5 s; data
    # sent and not acknowledged for 5 s breaks it too.  The failover drill (bench/failover.py)
    # measures what these defaults give: within 3 s of the server-side outage.
    keepalives_idle_s: int = 2
    keepalives_interval_s: int = 1
    keepalives_count: int = 3
    tcp_user_timeout_ms: int = 5_000
    #: Server-side statement timeout (sent as a startup option, so it costs no SET
    #: statement, which would pin the session in RDS Proxy).  None: server default.
    #: Keep it shorter than ``operation_timeout_s``: then a slow statement is cancelled cleanly
    #: by the server (SQLSTATE 57014, connection kept) before the client deadline tears it down.
    statement_timeout_ms: int | None = 4_000
    application_name: str = "resilient-rds"
    #: ``read-write`` for writers (a reconnect during failover refuses a host still in
    #: recovery); ``any`` / ``prefer-standby`` for readers.
    target_session_attrs: str = "read-write"
    #: Client-side deadline, in seconds, for each operation (one network round trip:
    #: execute, fetch, commit, …).  None disables it (not recommended).  It is what
    #: detects a hung host (SIGSTOP, a frozen VM): TCP still ACKs, keepalives still pass.
    #: 5 s suits the short OLTP transactions this library is for; raise it (and
    #: statement_timeout_ms) for reporting queries.
    operation_timeout_s: float | None = 5.0
    #: While a connect is pending, the host name is resolved again this often; when it no longer
    #: resolves to the address being connected (a failover moved the endpoint), the connect is
    #: abandoned at once (:class:`EndpointMoved`) instead of waiting out ``connect_timeout_s``.
    #: None: never.  Applies within a deadline (:func:`dbclient.retry.run_transaction`).
    resolve_interval_s: float | None = 0.25
    #: psycopg prepares a query server-side after this many executions.  Off (None) by
    #: default: a PREPAREd statement pins the client's session in RDS Proxy (no more
    #: multiplexing) and does not survive the proxy switching backends.
    prepare_threshold: int | None = None

    def __post_init__(self) -> None:
        if self.sslmode not in _SSLMODES:
            raise ValueError(f"sslmode must be one of {', '.join(_SSLMODES)}; got {self.sslmode!r}")
        if self.connect_timeout_s < MIN_CONNECT_TIMEOUT_S:
            # libpq treats any connect_timeout below 2 s as 2 s.
            raise ValueError(f"connect_timeout_s must be at least {MIN_CONNECT_TIMEOUT_S} seconds, got {self.connect_timeout_s}")
        if self.operation_timeout_s is not None and self.operation_timeout_s <= 0:
            raise ValueError(f"operation_timeout_s must be positive, got {self.operation_timeout_s}")
        if self.resolve_interval_s is not None and self.resolve_interval_s <= 0:
            raise ValueError(f"resolve_interval_s must be positive, got {self.resolve_interval_s}")

    @property
    def effective_sslmode(self) -> str:
        """``verify-full`` when a CA bundle is given and the mode is weaker; otherwise *sslmode*."""
        if self.sslrootcert and self.sslmode in ("allow", "prefer", "require", "verify-ca"):
            return "verify-full"
        return self.sslmode

    def resolve_password(self) -> str | None:
        """The password to use now (calls the provider if it is a callable)."""
        return self.password() if callable(self.password) else self.password

    def connect_kwargs(self, *, include_password: bool = True) -> dict[str, Any]:
        """Keyword arguments for :func:`psycopg.connect` (libpq parameter names).

        With *include_password* the provider is called: use the result immediately,
        never log it.
        """
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "sslmode": self.effective_sslmode,
            "connect_timeout": self.connect_timeout_s,
            "keepalives": 1,
            "keepalives_idle": self.keepalives_idle_s,
            "keepalives_interval": self.keepalives_interval_s,
            "keepalives_count": self.keepalives_count,
            "tcp_user_timeout": self.tcp_user_timeout_ms,
            "application_name": self.application_name,
            "target_session_attrs": self.target_session_attrs,
        }
        if self.sslrootcert:
            kwargs["sslrootcert"] = self.sslrootcert
        if self.statement_timeout_ms is not None:
            kwargs["options"] = f"-c statement_timeout={int(self.statement_timeout_ms)}"
        if include_password:
            password = self.resolve_password()
            if password is not None:
                kwargs["password"] = password
        return kwargs

    def with_host(self, host: str, *, target_session_attrs: str | None = None) -> ConnectionSettings:
        """A copy for another endpoint (e.g. the reader endpoint, with ``target_session_attrs="any"``)."""
        changes: dict[str, Any] = {"host": host}
        if target_session_attrs is not None:
            changes["target_session_attrs"] = target_session_attrs
        return replace(self, **changes)

    @classmethod
    def from_env(
        cls,
        prefix: str = "DB_",
        *,
        environ: Mapping[str, str] | None = None,
        password: Password = None,
        **overrides: Any,
    ) -> ConnectionSettings:
        """Settings from environment variables ``<prefix>HOST``, ``<prefix>NAME``, ``<prefix>USER``.

        Optional: ``PORT``, ``PASSWORD`` (a literal password; prefer a provider passed
        as *password*), ``SSLMODE``, ``SSLROOTCERT``, ``CONNECT_TIMEOUT_S``,
        ``STATEMENT_TIMEOUT_MS``, ``OPERATION_TIMEOUT_S``, ``APPLICATION_NAME``,
        ``TARGET_SESSION_ATTRS``.  Raises :class:`MissingSetting` naming every
        missing required variable.  *overrides* win over the environment.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(prefix + name)
            return value if value not in (None, "") else None

        required = {"host": "HOST", "dbname": "NAME", "user": "USER"}
        missing = [prefix + var for key, var in required.items() if key not in overrides and get(var) is None]
        if missing:
            raise MissingSetting(f"missing environment variable{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        values: dict[str, Any] = {key: get(var) for key, var in required.items()}
        optional: dict[str, tuple[str, Callable[[str], Any]]] = {
            "port": ("PORT", int),
            "sslmode": ("SSLMODE", str),
            "sslrootcert": ("SSLROOTCERT", str),
            "connect_timeout_s": ("CONNECT_TIMEOUT_S", int),
            "statement_timeout_ms": ("STATEMENT_TIMEOUT_MS", int),
            "operation_timeout_s": ("OPERATION_TIMEOUT_S", float),
            "application_name": ("APPLICATION_NAME", str),
            "target_session_attrs": ("TARGET_SESSION_ATTRS", str),
        }
        for key, (var, convert) in optional.items():
            raw = get(var)
            if raw is not None:
                try:
                    values[key] = convert(raw)
                except ValueError:
                    raise ValueError(f"environment variable {prefix + var} is not a valid {convert.__name__}: {raw!r}") from None
        values["password"] = password if password is not None else get("PASSWORD")
        values.update(overrides)
        return cls(**values)


class DeadlineConnection(_compat.BoundedWaitConnection[Row]):
    """A psycopg connection whose every network wait is bounded by a client-side deadline.

    The deadline of a wait is the earlier of ``now + operation_timeout_s`` and the
    absolute deadline set with :meth:`deadline` (used by :func:`dbclient.retry.run_transaction`
    to keep a whole transaction inside its budget).  When it expires the
    connection is closed, so it can never be reused in an unknown protocol
    state, and :class:`OperationTimeout` is raised.
    """

    #: Set by :func:`connect` from :attr:`ConnectionSettings.operation_timeout_s`.
    operation_timeout_s: float | None = None
    _absolute_deadline: float | None = None

    @contextlib.contextmanager
    def deadline(self, at: float | None) -> Iterator[None]:
        """Within the block, no wait goes past ``time.monotonic()`` value *at* (None: no extra bound)."""
        previous = self._absolute_deadline
        if at is not None and previous is not None:
            at = min(at, previous)
        self._absolute_deadline = at if at is not None else previous
        try:
            yield
        finally:
            self._absolute_deadline = previous

    def _wait_limit_s(self) -> float | None:
        limits = []
        if self.operation_timeout_s is not None:
            limits.append(self.operation_timeout_s)
        if self._absolute_deadline is not None:
            limits.append(max(0.0, self._absolute_deadline - time.monotonic()))
        return min(limits) if limits else None

    def _wait_expired(self, limit_s: float) -> BaseException:
        self.close()  # never reused in an unknown protocol state
        return OperationTimeout(f"no answer from the server within {limit_s:.1f} s; the connection was closed")


def without_pgconn(exc: psycopg.Error) -> psycopg.Error:
    """A copy of *exc* (same class, same message) without psycopg's PGconn, whose ``repr`` shows the password.

    Public API only: a psycopg error built without ``pgconn=`` has none.
    """
    return type(exc)(*exc.args).with_traceback(None)


def connect(settings: ConnectionSettings, **extra: Any) -> DeadlineConnection[Any]:
    """Open a connection with *settings* (autocommit off: use :func:`dbclient.retry.run_transaction`).

    Connection failures are raised as :class:`psycopg.OperationalError`; a login the
    server rejected after the password exchange as :class:`LoginRejected`.  Neither
    carries the password.  *extra* goes to :meth:`psycopg.Connection.connect` (e.g.
    ``row_factory``).
    """
    deadline = current_deadline()
    connect_timeout_s = settings.connect_timeout_s
    addresses: list[str] = []
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OperationTimeout("no time left in the deadline to open a connection")
        # libpq's own timer cannot go under 2 s; DeadlineConnection cuts the attempt at the deadline.
        connect_timeout_s = max(MIN_CONNECT_TIMEOUT_S, min(connect_timeout_s, math.ceil(remaining)))
        addresses = _resolve_before(settings.host, settings.port, deadline)
    kwargs = settings.connect_kwargs()
    kwargs["connect_timeout"] = connect_timeout_s
    if deadline is not None and addresses:
        # One attempt per address, as psycopg would make; the name still goes to libpq for TLS verification.
        kwargs["host"] = ",".join([settings.host] * len(addresses))
        kwargs["hostaddr"] = ",".join(addresses)
    kwargs.update(extra)
    watch = None
    if deadline is not None and addresses and settings.resolve_interval_s is not None:
        watch = AddressWatch(settings.host, settings.port, settings.resolve_interval_s)
    try:
        with _compat.abandon_connect_when(watch.moved if watch is not None else None):
            conn: DeadlineConnection[Any] = DeadlineConnection.connect(**kwargs)
    except psycopg.OperationalError as exc:
        if login_rejected(exc):
            raise LoginRejected(f"login rejected by {settings.host}:{settings.port} for user {settings.user!r}: {exc}") from None
        raise without_pgconn(exc) from None
    finally:
        kwargs.pop("password", None)
    conn.operation_timeout_s = settings.operation_timeout_s
    conn.prepare_threshold = settings.prepare_threshold
    return conn


def _addresses(host: str, port: int) -> list[str]:
    """The addresses *host* resolves to now, in resolver order (blocking)."""
    found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class AddressWatch:
    """Resolves *host* again, every *interval_s*, while a connect to one of its addresses is pending.

    :meth:`moved` is polled by the pending connect (every 0.1 s, see
    :func:`dbclient._compat.connect_gen_until`); it never blocks: each resolution
    runs in a helper thread, one at a time (a slow resolver delays the news, never
    the connect, and never piles up threads).  A failed resolution changes nothing.
    """

    def __init__(self, host: str, port: int, interval_s: float,
                 resolve: Callable[[str, int], list[str]] | None = None) -> None:
        self.host, self.port, self.interval_s = host, port, interval_s
        self._resolve = resolve if resolve is not None else _addresses
        self._lock = threading.Lock()
        self._latest: list[str] | None = None
        self._resolving = False
        self._next_at = time.monotonic() + interval_s

    def refresh(self) -> None:
        """Resolve the name now (blocking) and keep the answer; errors keep the previous one."""
        try:
            latest: list[str] | None = self._resolve(self.host, self.port)
        except OSError:
            latest = None
        with self._lock:
            if latest:
                self._latest = latest
            self._resolving = False

    def moved(self, address: str) -> EndpointMoved | None:
        """An :class:`EndpointMoved` if the latest answer no longer includes *address*, else None."""
        now = time.monotonic()
        with self._lock:
            latest = self._latest
            start = not self._resolving and now >= self._next_at
            if start:
                self._resolving = True
                self._next_at = now + self.interval_s
        if start:
            threading.Thread(target=self.refresh, name="dbclient-reresolve", daemon=True).start()
        if address and latest and address not in latest:
            return EndpointMoved(f"{self.host} now resolves to {', '.join(latest)}, not {address}; connect abandoned")
        return None


def _resolve_before(host: str, port: int, deadline: float) -> list[str]:
    """The addresses of *host*, resolved by *deadline* ([] when there is nothing to resolve).

    psycopg resolves names with a blocking ``getaddrinfo``, which a slow resolver can hold
    for seconds; here it runs in a helper thread the caller stops waiting for at the
    deadline (the thread ends when the resolver gives up).  Each connect resolves afresh.
    """
    if not host or host.startswith("/") or "," in host or _is_ip_address(host):
        return []
    found: list[str] = []
    failed: list[OSError] = []
    done = threading.Event()

    def resolve() -> None:
        try:
            found.extend(_addresses(host, port))
        except OSError as exc:
            failed.append(exc)
        finally:
            done.set()

    threading.Thread(target=resolve, name="dbclient-resolve", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise OperationTimeout(f"resolving {host!r} did not finish within the deadline")
    if failed:
        raise psycopg.OperationalError(f"failed to resolve host {host!r}: {failed[0]}")
    return found


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def login_rejected(exc: psycopg.OperationalError) -> bool:
    """True if *exc*, raised while connecting, came after the password was sent (see :class:`LoginRejected`)."""
    pgconn = exc.pgconn
    return bool(pgconn is not None and exc.sqlstate is None and _used_password(pgconn))


def _used_password(pgconn: Any) -> bool:
    try:
        return bool(pgconn.used_password)
    except Exception:  # a finished PGconn on an older libpq
        return False
