"""One error hierarchy: everything dbclient raises is a ``dbclient.Error``; connection errors stay psycopg errors."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import dbclient
from dbclient import errors
from dbclient.lambda_handler import parse_order_id
from dbclient.retry import ErrorClass, classify, run_transaction

PUBLIC_ERRORS = [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if obj.__module__ == errors.__name__]


def test_every_public_error_is_under_dbclient_error_exported_and_documented() -> None:
    assert {cls.__name__ for cls in PUBLIC_ERRORS} == set(errors.__all__)
    for cls in PUBLIC_ERRORS:
        assert issubclass(cls, dbclient.Error), cls
        assert getattr(dbclient, cls.__name__) is cls, f"{cls.__name__} is not exported from dbclient"
        assert cls.__doc__ and cls.__doc__.strip().splitlines()[0].endswith("."), cls


@pytest.mark.parametrize("name", ["OperationTimeout", "LoginRejected", "CommitOutcomeUnknown", "RetriesExhausted"])
def test_connection_errors_keep_their_psycopg_base(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, psycopg.OperationalError)


def test_psycopg_constructor_still_applies() -> None:
    exc = errors.OperationTimeout("no answer", pgconn=None)
    assert exc.sqlstate is None and exc.pgconn is None
    assert classify(exc) is ErrorClass.RECONNECT
    assert classify(errors.LoginRejected("rejected")) is ErrorClass.AUTH


class _Refused:
    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        raise errors.LoginRejected("login rejected")
        yield  # pragma: no cover


def test_a_caller_catches_everything_from_the_library_in_one_clause() -> None:
    caught: list[type[BaseException]] = []
    failures = [
        lambda: parse_order_id({"order_id": "x"}),  # BadRequest
        lambda: dbclient.ConnectionSettings.from_env(environ={}),  # MissingSetting
        lambda: run_transaction(lambda c: 1, connection_source=_Refused(), sleep=lambda s: None),  # LoginRejected
        lambda: run_transaction(lambda c: 1, connection_source=lambda: (_ for _ in ()).throw(errors.OperationTimeout("t")),
                                max_attempts=1),  # RetriesExhausted
    ]
    for fail in failures:
        try:
            fail()
        except dbclient.Error as exc:
            caught.append(type(exc))
    assert caught == [errors.BadRequest, errors.MissingSetting, errors.LoginRejected, errors.RetriesExhausted]
