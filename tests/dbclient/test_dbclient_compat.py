"""psycopg internals fenced in dbclient/_compat.py: present, and behaving as dbclient assumes.

When one of these fails after a psycopg upgrade, the message names the version:
adapt dbclient/_compat.py (and add the version to TESTED_PSYCOPG) before shipping it.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.waiting import Wait

from bench.pgcluster import PgCluster
from dbclient import _compat
from dbclient.connect import DeadlineConnection, connect
from dbclient.deadline import connect_deadline
from dbclient.errors import OperationTimeout, PsycopgIncompatible

VERSION = psycopg.__version__


def test_installed_psycopg_is_one_whose_internals_were_checked() -> None:
    assert _compat.PSYCOPG_VERSION in _compat.TESTED_PSYCOPG, (
        f"psycopg {VERSION} is not in dbclient._compat.TESTED_PSYCOPG: when the other tests of this file pass "
        f"with it, add {_compat.PSYCOPG_VERSION} there"
    )


def test_a_psycopg_without_the_internals_fails_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(psycopg.errors, "_WaitTimeout")
    try:
        with pytest.raises(PsycopgIncompatible, match=rf"psycopg {VERSION} lacks psycopg\.errors\._WaitTimeout"):
            importlib.reload(_compat)
    finally:
        monkeypatch.undo()
        importlib.reload(_compat)


def _never_ready() -> Iterator[Wait]:
    while True:
        yield Wait.R


@pytest.mark.postgres
def test_connection_wait_timeout_raises_wait_timeout(pg: PgCluster, app_settings: Any) -> None:
    with connect(app_settings()) as conn:
        started = time.monotonic()
        try:
            psycopg.Connection.wait(conn, _never_ready(), timeout=0.2)  # type: ignore[arg-type]
        except _compat.WaitTimeout:
            pass
        except Exception as exc:
            pytest.fail(f"psycopg {VERSION}: Connection.wait(timeout=) raised {type(exc).__name__}, not "
                        f"errors._WaitTimeout; dbclient's per-operation deadline (dbclient/_compat.py) is broken")
        else:
            pytest.fail(f"psycopg {VERSION}: Connection.wait(timeout=) returned instead of timing out")
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"psycopg {VERSION}: Connection.wait(timeout=0.2) took {elapsed:.2f} s"
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_connect_generator_is_resumed_so_a_deadline_cuts_under_two_seconds(silent_listener: Any) -> None:
    conninfo = f"host=127.0.0.1 port={silent_listener.port} dbname=x user=x sslmode=disable connect_timeout=2"
    started = time.monotonic()
    with connect_deadline(started + 0.3), pytest.raises(psycopg.OperationalError) as info:
        DeadlineConnection.connect(conninfo)
    elapsed = time.monotonic() - started
    assert isinstance(info.value, OperationTimeout), (
        f"psycopg {VERSION}: Connection.connect no longer drives Connection._connect_gen; got {info.value!r}")
    assert elapsed < 0.3 + 0.4, (
        f"psycopg {VERSION}: the connect deadline of 0.3 s cut in after {elapsed:.2f} s: waiting.wait_conn no longer "
        f"resumes the connection generator while it waits (dbclient/_compat.py connect_gen_until)")
    assert silent_listener.accepted == 1
