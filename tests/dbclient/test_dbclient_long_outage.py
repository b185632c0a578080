"""Long failovers (issue 9): the retry loop against a fake clock, and the name re-resolved while a connect is pending.

The fake-clock tests replace ``time`` in :mod:`dbclient.retry` only: every sleep advances the clock, so a
90 s outage takes milliseconds.  The real-socket test uses loopback addresses (127.0.0.x) and a fake resolver.
"""

from __future__ import annotations

import contextlib
import importlib
import random
import socket
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

import dbclient.retry as retry_module
from bench.pgcluster import PgCluster
from dbclient.connect import AddressWatch, connect
from dbclient.deadline import connect_deadline
from dbclient.errors import EndpointMoved, OperationTimeout, RetriesExhausted
from dbclient.retry import Backoff, ErrorClass, run_transaction
from tests.dbclient.conftest import settings_for

#: The module (``dbclient.connect`` as an attribute is the function the package re-exports).
connect_module = importlib.import_module("dbclient.connect")


class FakeClock:
    """``monotonic`` and ``sleep`` for :mod:`dbclient.retry`: sleeping advances the clock, nothing else does."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(retry_module, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


class OutageSource:
    """Refuses every checkout at once (a crashed primary) until ``back_at``, then lends a fake connection."""

    def __init__(self, clock: FakeClock, back_at: float) -> None:
        self.clock, self.back_at = clock, back_at
        self.attempts = 0
        self.served_at: float | None = None

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Any]:
        self.attempts += 1
        if self.clock.now < self.back_at:
            raise psycopg.OperationalError("connection refused")
        self.served_at = self.clock.now
        yield FakeConnection()


class FakeConnection:
    autocommit = False
    isolation_level = None
    closed = False
    info = SimpleNamespace(transaction_status=psycopg.pq.TransactionStatus.IDLE)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass


# --- a crash: refused connects fail at once -----------------------------------------------------------

@pytest.mark.parametrize("seed", range(20))
def test_after_a_crash_the_client_resumes_within_the_backoff_cap(clock: FakeClock, seed: int) -> None:
    back_at = clock.now + 37.3
    source = OutageSource(clock, back_at)
    assert run_transaction(lambda c: "ok", connection_source=source, deadline_s=90, sleep=clock.sleep,
                           rng=random.Random(seed)) == "ok"
    assert source.served_at is not None
    # The client is asleep when the server comes back; it notices at the end of that sleep.
    assert source.served_at - back_at <= Backoff().cap_s < 1.0


def test_the_default_attempts_do_not_cut_a_long_budget_short(clock: FakeClock) -> None:
    source = OutageSource(clock, clock.now + 85.0)
    assert run_transaction(lambda c: "ok", connection_source=source, deadline_s=90, sleep=clock.sleep,
                           rng=random.Random(3)) == "ok"
    assert source.attempts > 50  # the former fixed default gave up here, 20-30 s into the outage


def test_without_a_count_the_attempts_are_bounded_by_what_the_budget_holds(clock: FakeClock) -> None:
    source = OutageSource(clock, back_at=float("inf"))
    backoff = Backoff(base_s=0.02, cap_s=0.02, min_s=0.02)
    with pytest.raises(RetriesExhausted):
        run_transaction(lambda c: 1, connection_source=source, deadline_s=1.0, backoff=backoff,
                        sleep=clock.sleep, rng=random.Random(1))
    assert source.attempts <= 1.0 / backoff.min_s + 3
    assert all(s > 0 for s in clock.sleeps)  # never a busy loop


def test_backoff_sleeps_at_least_min_s_and_rejects_nonsense() -> None:
    backoff = Backoff(base_s=0.05, cap_s=0.5, min_s=0.04)
    rng = random.Random(5)
    assert min(backoff.delay_s(0, rng) for _ in range(500)) == 0.04
    for bad in ({"min_s": 0.0}, {"base_s": 0.0, "min_s": 0.0}, {"base_s": 2.0, "cap_s": 1.0}):
        with pytest.raises(ValueError, match="min_s <= base_s <= cap_s"):
            Backoff(**bad)


# --- the deadline error: at the budget, not before ----------------------------------------------------

@pytest.mark.parametrize("seed", range(20))
def test_a_budget_shorter_than_the_outage_fails_once_at_the_deadline(clock: FakeClock, seed: int) -> None:
    started = clock.now
    source = OutageSource(clock, back_at=float("inf"))
    retries: list[float] = []
    with pytest.raises(RetriesExhausted) as info:
        run_transaction(lambda c: 1, connection_source=source, deadline_s=25.5, sleep=clock.sleep,
                        backoff=Backoff(base_s=0.5, cap_s=8.0), rng=random.Random(seed),
                        on_retry=lambda n, exc, kind, delay: retries.append(clock.now + delay))
    assert clock.now - started == pytest.approx(25.5)  # not before the budget (and, with a refused connect, not after)
    assert isinstance(info.value.last, psycopg.OperationalError)
    # Every attempt started inside the budget, the last one at most the final-attempt margin before its end.
    assert max(retries) <= started + 25.5
    assert started + 25.5 - max(retries) <= retry_module._FINAL_ATTEMPT_S + 1e-9


def test_an_attempt_cut_by_the_deadline_is_reported_at_once(clock: FakeClock) -> None:
    class HangsUntilTheDeadline:
        @contextlib.contextmanager
        def connection(self, timeout: float | None = None) -> Iterator[Any]:
            clock.now += timeout or 0.0
            raise OperationTimeout("no answer")
            yield  # pragma: no cover

    started = clock.now
    with pytest.raises(RetriesExhausted):
        run_transaction(lambda c: 1, connection_source=HangsUntilTheDeadline(), deadline_s=5.0, sleep=clock.sleep)
    assert clock.now - started == pytest.approx(5.0)
    assert clock.sleeps == []


# --- the name moves while a connect is pending ----------------------------------------------------------

def test_address_watch_reports_a_move_only_when_the_address_is_gone() -> None:
    answers = [["10.0.0.1", "10.0.0.2"]]
    watch = AddressWatch("db.example", 5432, interval_s=60.0, resolve=lambda host, port: answers[-1])
    assert watch.moved("10.0.0.1") is None  # nothing re-resolved yet
    watch.refresh()
    assert watch.moved("10.0.0.2") is None
    answers.append(["10.0.0.3"])
    watch.refresh()
    moved = watch.moved("10.0.0.1")
    assert isinstance(moved, EndpointMoved) and "10.0.0.3" in str(moved)
    assert watch.moved("10.0.0.3") is None

    def fails(host: str, port: int) -> list[str]:
        raise socket.gaierror("temporary failure in name resolution")

    watch._resolve = fails
    watch.refresh()  # a failed lookup keeps the last answer
    assert isinstance(watch.moved("10.0.0.1"), EndpointMoved)
    assert ErrorClass.RECONNECT is retry_module.classify(moved)


@contextlib.contextmanager
def silent_listener(address: str, port: int) -> Iterator[None]:
    """Accepts TCP connections on *address* and never answers: a connect to it stays pending."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, port))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()


@pytest.mark.postgres
def test_a_pending_connect_is_abandoned_when_the_name_moves(pg: PgCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old address hangs (it accepts TCP, never answers); the name moves to the live server mid-connect."""
    answer = ["127.0.0.2"]
    monkeypatch.setattr(connect_module, "_addresses", lambda host, port: list(answer))
    settings = settings_for(pg, host="db.long-outage.test", sslmode="disable", connect_timeout_s=30,
                            resolve_interval_s=0.1)
    failures: list[BaseException] = []
    with silent_listener("127.0.0.2", pg.port):
        timer = threading.Timer(0.3, lambda: answer.__setitem__(0, "127.0.0.1"))
        timer.start()
        try:
            result = run_transaction(lambda c: c.execute("SELECT 1").fetchone(), deadline_s=20,
                                     connection_source=lambda: connect(settings),
                                     on_retry=lambda n, exc, kind, delay: failures.append(exc))
        finally:
            timer.cancel()
    assert result == (1,)
    # One attempt to the old address, abandoned (not timed out: connect_timeout_s and the budget are far off),
    # then one to the new address.
    assert len(failures) == 1 and isinstance(failures[0], EndpointMoved), failures


def test_without_re_resolution_the_pending_connect_waits_for_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connect_module, "_addresses", lambda host, port: ["127.0.0.2"])
    with socket.socket() as probe:
        probe.bind(("127.0.0.2", 0))
        port = probe.getsockname()[1]
    settings = connect_module.ConnectionSettings(host="db.long-outage.test", port=port, dbname="app", user="app",
                                                 sslmode="disable", resolve_interval_s=None)
    with silent_listener("127.0.0.2", port), connect_deadline(time.monotonic() + 0.5), \
            pytest.raises(OperationTimeout):
        connect(settings)
