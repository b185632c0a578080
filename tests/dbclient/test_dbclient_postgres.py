"""dbclient against real PostgreSQL 15 clusters: failures are real, not mocked."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import IsolationLevel
from psycopg import errors as pg_errors

from bench.pgcluster import PgCluster
from components.sizing import Workload
from dbclient.connect import ConnectionSettings, connect
from dbclient.errors import CommitOutcomeUnknown, OperationTimeout, RetriesExhausted
from dbclient.pool import make_pool
from dbclient.retry import ErrorClass, SingleConnection, run_read, run_transaction

pytestmark = pytest.mark.postgres

Retries = list[tuple[int, str | None, ErrorClass]]


def recorder(into: Retries) -> Callable[[int, BaseException, ErrorClass, float], None]:
    def on_retry(attempt: int, exc: BaseException, kind: ErrorClass, delay: float) -> None:
        into.append((attempt, getattr(exc, "sqlstate", None), kind))

    return on_retry


def scalar(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()  # type: ignore[call-overload]
    assert row is not None
    return row[0]


def count(su: psycopg.Connection[Any], table: str) -> int:
    row = su.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_retry_after_pg_terminate_backend(pg: PgCluster, make_settings: Any, table: str, su: Any, terminate: Any) -> None:
    source = SingleConnection(lambda: connect(make_settings(pg)))
    first_pid = run_transaction(lambda c: c.info.backend_pid, connection_source=source)
    assert terminate(pg) == 1  # the idle pooled connection is now dead (57P01 on next use)
    retries: Retries = []
    new_id = run_transaction(
        lambda c: c.execute(f"INSERT INTO {table} (v) VALUES ('x') RETURNING id").fetchone()[0],  # type: ignore[index]
        connection_source=source,
        on_retry=recorder(retries),
    )
    assert new_id == 1 and count(su, table) == 1
    assert [kind for _, _, kind in retries] == [ErrorClass.RECONNECT]
    assert retries[0][1] in ("57P01", None)  # admin_shutdown, or the lost socket if the FATAL was not read
    assert source.opened == 2
    assert run_transaction(lambda c: c.info.backend_pid, connection_source=source) != first_pid
    source.close()


def test_server_restart_in_the_middle_of_a_transaction(pg_breakable: PgCluster, make_settings: Any) -> None:
    with psycopg.connect(pg_breakable.conninfo(dbname="app"), autocommit=True) as su:
        su.execute("DROP TABLE IF EXISTS events")
        su.execute("CREATE TABLE events (id serial PRIMARY KEY, v text)")
        su.execute("ALTER TABLE events OWNER TO app")
    attempts = 0

    def transfer(conn: psycopg.Connection[Any]) -> int:
        nonlocal attempts
        attempts += 1
        conn.execute("INSERT INTO events (v) VALUES ('debit')")
        if attempts == 1:
            pg_breakable.restart("fast")  # the server goes away with our transaction open
        conn.execute("INSERT INTO events (v) VALUES ('credit')")
        return attempts

    retries: Retries = []
    source = SingleConnection(lambda: connect(make_settings(pg_breakable, sslmode="disable")))
    assert run_transaction(transfer, connection_source=source, on_retry=recorder(retries), deadline_s=20) == 2
    assert [kind for _, _, kind in retries] == [ErrorClass.RECONNECT]
    with psycopg.connect(pg_breakable.conninfo(dbname="app")) as su:
        rows = su.execute("SELECT v FROM events ORDER BY id").fetchall()
    assert rows == [("debit",), ("credit",)]  # the half-done first attempt left nothing behind
    source.close()


def test_real_serialization_failure_is_retried(pg: PgCluster, make_settings: Any, su: Any) -> None:
    # Write skew: two doctors on call, each goes off call if someone else still is.
    su.execute("DROP TABLE IF EXISTS doctors")
    su.execute("CREATE TABLE doctors (id int PRIMARY KEY, on_call bool NOT NULL)")
    su.execute("INSERT INTO doctors VALUES (1, true), (2, true)")
    su.execute("ALTER TABLE doctors OWNER TO app")
    barrier = threading.Barrier(2, timeout=10)
    results: dict[int, Any] = {}
    retries: dict[int, Retries] = {1: [], 2: []}

    def go_off_call(me: int) -> Callable[[psycopg.Connection[Any]], bool]:
        calls = 0

        def fn(conn: psycopg.Connection[Any]) -> bool:
            nonlocal calls
            calls += 1
            row = conn.execute("SELECT count(*) FROM doctors WHERE on_call").fetchone()
            assert row is not None
            if calls == 1:
                barrier.wait()  # both have read "2 on call" before either writes
            if row[0] < 2:
                return False
            conn.execute("UPDATE doctors SET on_call = false WHERE id = %s", (me,))
            return True

        return fn

    def worker(me: int) -> None:
        try:
            results[me] = run_transaction(
                go_off_call(me),
                connection_source=lambda: connect(make_settings(pg)),
                isolation_level=IsolationLevel.SERIALIZABLE,
                on_retry=recorder(retries[me]),
                deadline_s=20,
            )
        except BaseException as exc:  # surfaced by the assertions below
            results[me] = exc

    threads = [threading.Thread(target=worker, args=(me,)) for me in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results.values()) == [False, True], results
    all_retries = retries[1] + retries[2]
    assert [(state, kind) for _, state, kind in all_retries] == [("40001", ErrorClass.RETRY)]
    on_call = su.execute("SELECT count(*) FROM doctors WHERE on_call").fetchone()[0]
    assert on_call == 1  # the invariant holds: without SERIALIZABLE + retry both would be off call


def test_lost_commit_without_key_raises_commit_outcome_unknown(lossy_proxy: Any, make_settings: Any, pg: PgCluster,
                                                               table: str, su: Any) -> None:
    settings: ConnectionSettings = make_settings(pg, port=lossy_proxy.port, sslmode="disable")
    lossy_proxy.arm("reply")
    calls = 0

    def insert(conn: psycopg.Connection[Any]) -> None:
        nonlocal calls
        calls += 1
        conn.execute(f"INSERT INTO {table} (v) VALUES ('once')")

    with pytest.raises(CommitOutcomeUnknown):
        run_transaction(insert, connection_source=lambda: connect(settings))
    assert lossy_proxy.fired == 1 and calls == 1
    assert count(su, table) == 1  # it did commit: retrying blindly would have written it twice


def test_lost_commit_reply_is_resolved_by_idempotency_key(lossy_proxy: Any, make_settings: Any, pg: PgCluster,
                                                          table: str, su: Any) -> None:
    settings: ConnectionSettings = make_settings(pg, port=lossy_proxy.port, sslmode="disable")
    calls = 0

    def place_order(conn: psycopg.Connection[Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        row = conn.execute(f"INSERT INTO {table} (v) VALUES ('order') RETURNING id").fetchone()
        assert row is not None
        return {"id": row[0]}

    lossy_proxy.arm("reply")
    result = run_transaction(place_order, connection_source=lambda: connect(settings), idempotency_key="order-reply-1")
    assert lossy_proxy.fired == 1
    assert result == {"id": 1} and calls == 1  # the stored result, not a second run
    assert count(su, table) == 1
    # The same key again (a client retrying its request) returns the stored result without running fn.
    again = run_transaction(place_order, connection_source=lambda: connect(settings), idempotency_key="order-reply-1")
    assert again == {"id": 1} and calls == 1 and count(su, table) == 1


def test_lost_commit_request_is_retried_under_idempotency_key(lossy_proxy: Any, make_settings: Any, pg: PgCluster,
                                                              table: str, su: Any) -> None:
    settings: ConnectionSettings = make_settings(pg, port=lossy_proxy.port, sslmode="disable")
    calls = 0

    def place_order(conn: psycopg.Connection[Any]) -> int:
        nonlocal calls
        calls += 1
        conn.execute(f"INSERT INTO {table} (v) VALUES ('order')")
        return calls

    lossy_proxy.arm("request")  # COMMIT never reaches the server: the key lookup finds nothing
    assert run_transaction(place_order, connection_source=lambda: connect(settings), idempotency_key="order-req-1") == 2
    assert lossy_proxy.fired == 1 and calls == 2
    assert count(su, table) == 1


def test_constraint_error_is_not_retried(pg: PgCluster, make_settings: Any, table: str) -> None:
    retries: Retries = []
    calls = 0

    def bad(conn: psycopg.Connection[Any]) -> None:
        nonlocal calls
        calls += 1
        conn.execute(f"INSERT INTO {table} (v) VALUES (NULL)")

    with pytest.raises(pg_errors.NotNullViolation):
        run_transaction(bad, connection_source=lambda: connect(make_settings(pg)), on_retry=recorder(retries))
    assert calls == 1 and retries == []


def test_unsafe_to_retry_is_not_retried_after_fn_started(pg: PgCluster, make_settings: Any, terminate: Any) -> None:
    source = SingleConnection(lambda: connect(make_settings(pg)))
    calls = 0

    def send_email_then_query(conn: psycopg.Connection[Any]) -> None:
        nonlocal calls
        calls += 1
        terminate(pg)  # the connection dies after the side effect happened
        conn.execute("SELECT 1")

    with pytest.raises(psycopg.OperationalError):
        run_transaction(send_email_then_query, connection_source=source, unsafe_to_retry=True)
    assert calls == 1
    source.close()


def test_pool_sized_from_the_budget_survives_a_restart(pg_breakable: PgCluster, make_settings: Any) -> None:
    workload = Workload(lambda_concurrency=0, ecs_tasks=1, ecs_pool_size=3, active_ratio=0.5)
    pool = make_pool(make_settings(pg_breakable, sslmode="disable"), workload, timeout_s=5, reconnect_timeout_s=20, wait=True)
    try:
        assert (pool.min_size, pool.max_size) == (2, 3)  # ecs_pool_bounds: ceil(3 * 0.5), 3
        before = run_transaction(lambda c: c.info.backend_pid, connection_source=pool)
        pg_breakable.restart("fast")  # every pooled connection is now dead
        retries: Retries = []
        pids = {run_transaction(lambda c: c.info.backend_pid, connection_source=pool, on_retry=recorder(retries),
                                deadline_s=15) for _ in range(4)}
        assert before not in pids
        assert all(kind is ErrorClass.RECONNECT for _, _, kind in retries)
        assert pool.get_stats()["pool_size"] <= 3
    finally:
        pool.close(timeout=5)


def test_hung_server_fails_within_the_deadline(pg_breakable: PgCluster, make_settings: Any) -> None:
    settings = make_settings(pg_breakable, sslmode="disable", operation_timeout_s=0.5, connect_timeout_s=2)
    conn = connect(settings)
    conn.execute("SELECT 1")
    source = SingleConnection(lambda: connect(settings))
    with source.connection() as warm:
        warm.execute("SELECT 1")
        warm.rollback()
    pg_breakable.pause()  # SIGSTOP: the kernel still ACKs, nothing answers
    try:
        started = time.monotonic()
        with pytest.raises(OperationTimeout):
            conn.execute("SELECT 1")
        assert time.monotonic() - started < 0.5 + 2.0
        assert conn.closed  # never reused

        started = time.monotonic()
        with pytest.raises((RetriesExhausted, OperationTimeout)):
            run_transaction(lambda c: c.execute("SELECT 1").fetchone(), connection_source=source, deadline_s=1.0)
        # deadline + libpq's 2 s connect floor for a reconnect begun near the end + slack
        assert time.monotonic() - started < 1.0 + 2.0 + 1.5
    finally:
        pg_breakable.resume()
    # once the server answers again, the same source recovers
    assert run_transaction(lambda c: scalar(c, "SELECT 42"), connection_source=source, deadline_s=10) == 42
    source.close()


def test_ssl_require_and_verify_full(pg: PgCluster, make_settings: Any, tmp_path: Any) -> None:
    query = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    with connect(make_settings(pg, sslmode="require")) as conn:
        assert conn.execute(query).fetchone() == (True,)
    verified = make_settings(pg, sslmode="require", sslrootcert=str(pg.certificate))
    assert verified.effective_sslmode == "verify-full"
    for host in ("127.0.0.1", "localhost"):  # both are in the certificate's subjectAltName
        with connect(verified.with_host(host)) as conn:
            assert conn.execute(query).fetchone() == (True,)
            assert conn.pgconn.ssl_in_use
    # under a deadline the name is resolved by dbclient (bounded) and still verified against the certificate
    from dbclient.deadline import connect_deadline

    with connect_deadline(time.monotonic() + 10), connect(verified.with_host("localhost")) as conn:
        assert conn.execute(query).fetchone() == (True,)
        assert conn.info.host == "localhost"
    # a CA that did not sign the server's certificate is refused
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(_other_certificate(tmp_path))
    with pytest.raises(psycopg.OperationalError):
        connect(make_settings(pg, sslrootcert=str(other_ca)))


def _other_certificate(tmp_path: Any) -> str:
    import subprocess

    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-new", "-x509", "-days", "1", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return cert.read_text()


def test_reads_fall_back_from_a_dead_reader_to_the_writer(pg: PgCluster, make_settings: Any) -> None:
    from bench.pgcluster import free_port

    dead_settings = make_settings(pg, port=free_port(), target_session_attrs="any")
    dead_reader = SingleConnection(lambda: connect(dead_settings))
    writer = SingleConnection(lambda: connect(make_settings(pg)))
    value = run_read(lambda c: scalar(c, "SELECT 7"), readers=[dead_reader], writer=writer)
    assert value == 7
    # the dead reader is now skipped (cooldown): the next read goes straight to the writer
    original_factory = dead_reader._factory
    dead_reader._factory = lambda: pytest.fail("a reader in cooldown must not be tried")  # type: ignore[assignment]
    assert run_read(lambda c: scalar(c, "SELECT 9"), readers=[dead_reader], writer=writer) == 9
    dead_reader._factory = original_factory
    live_reader = SingleConnection(lambda: connect(make_settings(pg, target_session_attrs="any")))
    assert run_read(lambda c: scalar(c, "SELECT 8"), readers=[live_reader], writer=writer) == 8
    assert writer.opened == 1 and live_reader.opened == 1
    with pytest.raises(pg_errors.UndefinedTable):  # a bug in the query is not retried anywhere
        run_read(lambda c: c.execute("SELECT * FROM no_such_table").fetchone(), readers=[live_reader], writer=writer)
    writer.close()
    live_reader.close()


def test_login_errors_carry_no_password(pg: PgCluster, make_settings: Any) -> None:
    from dbclient.errors import LoginRejected

    secret = "wrong-but-secret-password-123"
    with pytest.raises(LoginRejected) as info:
        connect(make_settings(pg, password=secret))
    exc = info.value
    assert secret not in str(exc) and secret not in repr(exc)
    assert exc.pgconn is None  # psycopg's PGconn repr would show the password
    assert info.value.__cause__ is None and info.value.__context__ is None or secret not in repr(info.value.__context__)


def test_idempotent_result_round_trips_as_json(pg: PgCluster, make_settings: Any) -> None:
    import datetime as dt
    import decimal

    source = SingleConnection(lambda: connect(make_settings(pg)))
    value = {"total": decimal.Decimal("9.99"), "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "note": "text"}
    first = run_transaction(lambda c: value, connection_source=source, idempotency_key="json-1")
    replay: Any = run_transaction(lambda c: pytest.fail("must not run again"), connection_source=source, idempotency_key="json-1")
    assert first == replay == {"total": "9.99", "at": "2026-01-01T00:00:00+00:00", "note": "text"}
    assert run_transaction(lambda c: "plain string", connection_source=source, idempotency_key="json-2") == "plain string"
    assert run_transaction(lambda c: None, connection_source=source, idempotency_key="json-2") == "plain string"
    source.close()


def test_no_server_side_prepared_statements(pg: PgCluster, make_settings: Any) -> None:
    # psycopg prepares a query after 5 executions by default; PREPARE pins RDS Proxy sessions.
    with connect(make_settings(pg)) as conn:
        for _ in range(8):
            conn.execute("SELECT %s::int", (1,))
        assert scalar(conn, "SELECT count(*) FROM pg_prepared_statements") == 0


class RotatingPassword:
    """A refreshable provider whose source of truth changes (a stand-in for Secrets Manager)."""

    def __init__(self, current: str) -> None:
        self.stored = current
        self.cached = current
        self.refreshes = 0

    def __call__(self) -> str:
        return self.cached

    def refresh(self) -> str:
        self.refreshes += 1
        self.cached = self.stored
        return self.cached


def test_pool_refreshes_credentials_after_a_rejected_login(pg: PgCluster, make_settings: Any, su: Any,
                                                           terminate: Any) -> None:
    su.execute("DROP ROLE IF EXISTS pooled")
    su.execute("CREATE ROLE pooled LOGIN PASSWORD 'pw-before'")
    password = RotatingPassword("pw-before")
    settings = make_settings(pg, user="pooled", password=password, application_name="dbclient-pool-rotation")
    pool = make_pool(settings, min_size=1, max_size=1, timeout_s=5, wait=True)
    try:
        assert run_transaction(lambda c: scalar(c, "SELECT current_user"), connection_source=pool) == "pooled"
        su.execute("ALTER ROLE pooled PASSWORD 'pw-after'")
        password.stored = "pw-after"
        terminate(pg, "dbclient-pool-rotation")  # the pool must log in again, with the old cached password
        user = run_transaction(lambda c: scalar(c, "SELECT current_user"), connection_source=pool, deadline_s=15)
        assert user == "pooled"
        assert password.refreshes >= 1 and password.cached == "pw-after"
    finally:
        pool.close(timeout=5)
        su.execute("DROP ROLE IF EXISTS pooled")


def test_ensure_schema_creates_the_idempotency_table_once(pg: PgCluster, su: Any) -> None:
    from dbclient.retry import IDEMPOTENCY_TABLE, ensure_schema

    su.execute("DROP DATABASE IF EXISTS ensure_schema_test")
    su.execute("CREATE DATABASE ensure_schema_test OWNER app")
    try:
        with psycopg.connect(pg.conninfo(dbname="ensure_schema_test", user="app")) as conn:
            ensure_schema(conn)
            ensure_schema(conn)  # idempotent
            tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            assert tables == {IDEMPOTENCY_TABLE}  # the orders table is the handler's, not the library's
    finally:
        su.execute("DROP DATABASE IF EXISTS ensure_schema_test")


def test_read_only_after_failover_reconnects(pg: PgCluster, make_settings: Any, table: str, su: Any) -> None:
    # A kept connection that now points at a read-only server (a demoted primary) gets 25006 on write.
    source = SingleConnection(lambda: connect(make_settings(pg)))
    with source.connection() as conn:
        conn.execute("SET SESSION default_transaction_read_only = on")
        conn.commit()
    retries: Retries = []
    run_transaction(lambda c: c.execute(f"INSERT INTO {table} (v) VALUES ('w')"), connection_source=source,
                    on_retry=recorder(retries))
    assert [(state, kind) for _, state, kind in retries] == [("25006", ErrorClass.RECONNECT)]
    assert source.opened == 2 and count(su, table) == 1
    source.close()


def test_key_lookup_after_a_lost_commit_backs_off_resolves_afresh_and_is_reported(
        lossy_proxy: Any, make_settings: Any, pg: PgCluster, table: str, su: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import random
    import socket

    from dbclient.retry import Backoff

    # "localhost": psycopg resolves the name on every new connection; count when it does.
    settings: ConnectionSettings = make_settings(pg, host="localhost", port=lossy_proxy.port, sslmode="disable")
    events: list[Any] = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "localhost":
            events.append("resolve")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def sleep(seconds: float) -> None:
        events.append("sleep")
        time.sleep(seconds)

    def on_retry(attempt: int, exc: BaseException, kind: ErrorClass, delay: float) -> None:
        events.append(("retry", attempt, kind))

    def place_order(conn: psycopg.Connection[Any]) -> int:
        events.append("fn")
        row = conn.execute(f"INSERT INTO {table} (v) VALUES ('order') RETURNING id").fetchone()
        assert row is not None
        return int(row[0])

    lossy_proxy.arm("reply")  # committed, but the client never hears it
    result = run_transaction(place_order, connection_source=lambda: connect(settings), idempotency_key="lookup-1",
                             on_retry=on_retry, sleep=sleep, backoff=Backoff(base_s=0.05, cap_s=0.2),
                             rng=random.Random(5))
    assert result == 1 and count(su, table) == 1 and lossy_proxy.fired == 1
    # The lookup is an attempt like a retry: reported, then the backoff sleep, then a new connection
    # with a new name resolution; fn does not run again.
    assert events == ["resolve", "fn", ("retry", 1, ErrorClass.RECONNECT), "sleep", "resolve"]


def test_key_lookup_that_cannot_connect_is_retried_with_backoff(lossy_proxy: Any, make_settings: Any, pg: PgCluster,
                                                              table: str, su: Any) -> None:
    import random

    from dbclient.retry import Backoff

    settings: ConnectionSettings = make_settings(pg, port=lossy_proxy.port, sslmode="disable")
    opened = 0

    def factory() -> psycopg.Connection[Any]:
        nonlocal opened
        opened += 1
        if opened in (2, 3):  # the first two lookups find the server away (a failover in progress)
            raise psycopg.OperationalError("connection refused")
        return connect(settings)

    retries: Retries = []
    sleeps: list[float] = []
    lossy_proxy.arm("reply")
    result = run_transaction(lambda c: c.execute(f"INSERT INTO {table} (v) VALUES ('x') RETURNING id").fetchone()[0],  # type: ignore[index]
                             connection_source=factory, idempotency_key="lookup-2", on_retry=recorder(retries),
                             sleep=sleeps.append, backoff=Backoff(base_s=0.01, cap_s=0.04), rng=random.Random(1))
    assert result == 1 and count(su, table) == 1 and opened == 4
    assert [(n, kind) for n, _, kind in retries] == [(1, ErrorClass.RECONNECT), (2, ErrorClass.RECONNECT),
                                                     (3, ErrorClass.RECONNECT)]
    assert len(sleeps) == 3 and all(0 < s <= min(0.04, 0.01 * 2**n) for n, s in enumerate(sleeps))


def test_key_lookup_out_of_attempts_is_commit_outcome_unknown(lossy_proxy: Any, make_settings: Any, pg: PgCluster,
                                                              table: str) -> None:
    settings: ConnectionSettings = make_settings(pg, port=lossy_proxy.port, sslmode="disable")
    lossy_proxy.arm("reply")
    with pytest.raises(CommitOutcomeUnknown, match="could not be checked"):
        run_transaction(lambda c: c.execute(f"INSERT INTO {table} (v) VALUES ('x')") and None,
                        connection_source=lambda: connect(settings), idempotency_key="lookup-3", max_attempts=1)
