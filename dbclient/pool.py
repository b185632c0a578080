"""The ECS side: a connection pool sized from the connection budget.

``make_pool`` returns a :class:`psycopg_pool.ConnectionPool` of
:class:`~dbclient.connect.DeadlineConnection` whose bounds come from
:func:`components.sizing.ecs_pool_bounds` (the same numbers the Pulumi program
and the policy pack use for the budget), and which:

* checks every connection on checkout (``ConnectionPool.check_connection``), so a
  connection broken by a failover is replaced instead of handed out;
* retires connections after ``max_lifetime_s`` (with psycopg_pool's jitter), so
  after a failover the pool drifts back to balanced, fresh connections, and IAM
  tokens are re-validated;
* keeps retrying to reconnect for ``reconnect_timeout_s`` when the server is away;
* calls the password provider for every new connection (fresh IAM token,
  current secret).

Use it with :func:`dbclient.retry.run_transaction`::

    pool = make_pool(settings, workload)
    run_transaction(fn, connection_source=pool)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from components.sizing import Workload, ecs_pool_bounds
from dbclient.connect import ConnectionSettings, DeadlineConnection, login_rejected, without_pgconn

logger = logging.getLogger(__name__)

__all__ = ["make_pool"]

#: Used when no workload is given: a small pool.
DEFAULT_BOUNDS = (1, 4)


def make_pool(
    settings: ConnectionSettings,
    workload: Workload | None = None,
    *,
    min_size: int | None = None,
    max_size: int | None = None,
    name: str = "dbclient",
    timeout_s: float = 5.0,
    max_waiting: int = 0,
    max_lifetime_s: float = 30 * 60.0,
    max_idle_s: float = 5 * 60.0,
    reconnect_timeout_s: float = 60.0,
    open: bool = True,
    wait: bool = False,
    **pool_kwargs: Any,
) -> ConnectionPool[DeadlineConnection[Any]]:
    """A pool for *settings*, sized by ``ecs_pool_bounds(workload)``.

    *min_size* / *max_size* override the computed bounds.  *timeout_s* is the default
    checkout timeout (``run_transaction`` passes its own remaining budget).  With
    *open* the pool starts opening connections in the background; with *wait* too,
    this call blocks until ``min_size`` connections are up (raising
    ``psycopg_pool.PoolTimeout`` after *timeout_s*).  The ``*_s`` arguments are
    psycopg_pool's ``timeout``, ``max_lifetime``, ``max_idle`` and ``reconnect_timeout``.
    """
    low, high = ecs_pool_bounds(workload) if workload is not None else DEFAULT_BOUNDS
    low = low if min_size is None else min_size
    high = high if max_size is None else max_size
    if not 0 <= low <= high or high < 1:
        raise ValueError(f"invalid pool bounds min={low}, max={high}")

    operation_timeout_s = settings.operation_timeout_s
    prepare_threshold = settings.prepare_threshold

    def configure(conn: DeadlineConnection[Any]) -> None:
        conn.operation_timeout_s = operation_timeout_s
        conn.prepare_threshold = prepare_threshold

    refresh = getattr(settings.password, "refresh", None)

    pool: ConnectionPool[DeadlineConnection[Any]] = ConnectionPool(
        "",
        connection_class=_pool_connection_class(refresh if callable(refresh) else None),
        kwargs=settings.connect_kwargs,  # called for each new connection: fresh password
        min_size=low,
        max_size=high,
        open=False,
        configure=configure,
        check=ConnectionPool.check_connection,
        name=name,
        timeout=timeout_s,
        max_waiting=max_waiting,
        max_lifetime=max_lifetime_s,
        max_idle=max_idle_s,
        reconnect_timeout=reconnect_timeout_s,
        **pool_kwargs,
    )
    if open:
        pool.open(wait=wait, timeout=timeout_s)
    return pool


def _pool_connection_class(refresh: Callable[[], object] | None) -> type[DeadlineConnection[Any]]:
    """A :class:`DeadlineConnection` whose ``connect`` (called by the pool's workers) scrubs
    the password from errors and, when the server rejects the login, refreshes the
    credentials so that the pool's next attempt uses the rotated secret / a new token."""

    class PoolConnection(DeadlineConnection[Any]):
        @classmethod
        def connect(cls, conninfo: str = "", **kwargs: Any) -> PoolConnection:  # type: ignore[override]
            try:
                return super().connect(conninfo, **kwargs)
            except psycopg.OperationalError as exc:
                if login_rejected(exc) and refresh is not None:
                    logger.warning("login rejected; refreshing the credentials for the next attempt")
                    try:
                        refresh()
                    except Exception as refresh_error:
                        logger.error("credential refresh failed: %s", type(refresh_error).__name__)
                raise without_pgconn(exc) from None
            finally:
                kwargs.pop("password", None)

    return PoolConnection
