"""PostgreSQL 15 fixtures for the dbclient tests (throwaway clusters from bench.pgcluster).

``pg`` is one TLS-enabled cluster per test session (per xdist worker) with the
dbclient schema; tests that only run transactions share it.  ``pg_breakable`` is
a separate cluster for tests that restart, pause or kill the server, healed
between tests.  Both are destroyed even when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import psycopg
import pytest

from bench.pgcluster import APP_PASSWORD, APP_USER, PgCluster, binaries_available
from dbclient.connect import ConnectionSettings


def _require_binaries() -> None:
    if binaries_available():
        return
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL 15 binaries are missing in CI (run `make setup`)")
    pytest.skip("PostgreSQL 15 binaries not installed (run `make setup`)")


def load_schema(pg: PgCluster) -> None:
    ddl = resources.files("dbclient").joinpath("schema.sql").read_text()
    with psycopg.connect(pg.conninfo(dbname="app", user=APP_USER), autocommit=True) as conn:
        conn.execute(ddl.encode())


def make_cluster(**kwargs: Any) -> PgCluster:
    _require_binaries()
    pg = PgCluster.create(**kwargs)
    try:
        load_schema(pg)
    except BaseException:
        pg.destroy()
        raise
    return pg


@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    cluster = make_cluster(ssl=True)
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="module")
def _breakable_cluster() -> Iterator[PgCluster]:
    cluster = make_cluster()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_breakable(_breakable_cluster: PgCluster) -> Iterator[PgCluster]:
    """A cluster (plain TCP) that the test may restart, pause or kill; not shared with ``pg``.

    Shared by the module's breaking tests to save an initdb each, and put back into
    service (resumed, started) before and after every test, so a failed test cannot
    leave it broken for the next one.
    """
    cluster = _breakable_cluster

    def heal() -> None:
        cluster.resume()
        if not cluster.running():
            cluster.start()

    heal()
    try:
        yield cluster
    finally:
        heal()


SettingsFactory = Callable[..., ConnectionSettings]


def settings_for(cluster: PgCluster, **overrides: Any) -> ConnectionSettings:
    """Settings for the ``app`` role over TCP with short test timeouts."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": cluster.port,
        "dbname": "app",
        "user": APP_USER,
        "password": APP_PASSWORD,
        "sslmode": "prefer",
        "connect_timeout_s": 2,
        "operation_timeout_s": 3.0,
        "statement_timeout_ms": 5000,
        "application_name": "dbclient-tests",
    }
    values.update(overrides)
    return ConnectionSettings(**values)


@pytest.fixture
def app_settings(pg: PgCluster) -> SettingsFactory:
    return lambda **overrides: settings_for(pg, **overrides)


def superuser(cluster: PgCluster) -> psycopg.Connection[Any]:
    """An autocommit superuser connection for arranging and inspecting state."""
    return psycopg.connect(cluster.conninfo(dbname="app"), autocommit=True, connect_timeout=5)


@pytest.fixture
def make_settings() -> Callable[..., ConnectionSettings]:
    """``make_settings(cluster, **overrides)``: app-role settings for any cluster."""
    return settings_for


@pytest.fixture
def su(pg: PgCluster) -> Iterator[psycopg.Connection[Any]]:
    """Superuser connection to the shared cluster's ``app`` database."""
    with superuser(pg) as conn:
        yield conn


@pytest.fixture
def table(su: psycopg.Connection[Any], request: pytest.FixtureRequest) -> str:
    """A fresh table ``(id serial, v text)`` owned by ``app``, unique to the test."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    su.execute(f"DROP TABLE IF EXISTS {name}")
    su.execute(f"CREATE TABLE {name} (id serial PRIMARY KEY, v text NOT NULL)")
    su.execute(f"ALTER TABLE {name} OWNER TO {APP_USER}")
    return name


def terminate_app_backends(cluster: PgCluster, application_name: str = "dbclient-tests") -> int:
    """pg_terminate_backend every session of *application_name* (57P01 for them)."""
    out = cluster.sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE application_name = '{application_name}' AND pid <> pg_backend_pid()",
        dbname="app",
    )
    return int(out.strip() or 0)


@pytest.fixture
def terminate() -> Callable[..., int]:
    return terminate_app_backends


class LossyProxy:
    """A loopback TCP proxy in front of PostgreSQL that can lose the reply to a COMMIT.

    ``arm("reply")``: the next COMMIT is delivered to the server, which commits, and its
    reply is dropped with the connection (the client cannot know the outcome).
    ``arm("request")``: the COMMIT itself is dropped with the connection (the server
    rolls back).  Plain TCP only: clients use ``sslmode=disable``.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.mode: str | None = None
        self.fired = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)
        self._accept_thread.start()

    def arm(self, mode: str) -> None:
        assert mode in ("reply", "request")
        self.mode = mode

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            for sock in (client, server):
                sock.settimeout(0.2)
            with self._lock:
                self._sockets += [client, server]
            state = {"commit_sent": False}
            for args in ((client, server, True, state), (server, client, False, state)):
                thread = threading.Thread(target=self._pump, args=args, daemon=True)
                thread.start()
                self._threads.append(thread)

    def _drop(self, a: socket.socket, b: socket.socket) -> None:
        self.mode = None
        self.fired += 1
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool, state: dict[str, bool]) -> None:
        while not self._stop.is_set():
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            if upstream and self.mode is not None and b"COMMIT\x00" in data:
                if self.mode == "request":
                    self._drop(src, dst)
                    return
                state["commit_sent"] = True
            elif not upstream and state["commit_sent"] and self.mode == "reply":
                # The server answered the COMMIT: it has committed.  Lose the answer.
                self._drop(src, dst)
                return
            try:
                dst.sendall(data)
            except OSError:
                break
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        self._stop.set()
        self._accept_thread.join(timeout=2)
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
        for thread in self._threads:
            thread.join(timeout=2)


@pytest.fixture
def lossy_proxy(pg: PgCluster) -> Iterator[LossyProxy]:
    proxy = LossyProxy(pg.port)
    try:
        yield proxy
    finally:
        proxy.close()


class SilentListener:
    """A loopback TCP server that accepts every connection and never sends a byte (a hung host)."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.1)
        self.port: int = self.listener.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.listener.close()
        for conn in self._held:
            with contextlib.suppress(OSError):
                conn.close()


@pytest.fixture
def silent_listener() -> Iterator[SilentListener]:
    listener = SilentListener()
    try:
        yield listener
    finally:
        listener.close()
