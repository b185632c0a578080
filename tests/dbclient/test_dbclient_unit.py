"""Unit tests: no database, no AWS."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import random
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from dbclient import lambda_handler
from dbclient.connect import ConnectionSettings
from dbclient.credentials import IamTokenProvider, SecretsManagerProvider
from dbclient.errors import LoginRejected, MissingSetting, OperationTimeout, RetriesExhausted
from dbclient.jsonutil import to_json
from dbclient.retry import Backoff, ErrorClass, classify, run_transaction

# --- classification ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("08000", ErrorClass.RECONNECT),  # connection_exception
        ("08003", ErrorClass.RECONNECT),  # connection_does_not_exist
        ("08006", ErrorClass.RECONNECT),  # connection_failure
        ("08001", ErrorClass.RECONNECT),  # sqlclient_unable_to_establish_sqlconnection
        ("08P01", ErrorClass.RECONNECT),  # protocol_violation
        ("57P01", ErrorClass.RECONNECT),  # admin_shutdown (pg_terminate_backend)
        ("57P02", ErrorClass.RECONNECT),  # crash_shutdown
        ("57P03", ErrorClass.RECONNECT),  # cannot_connect_now
        ("25006", ErrorClass.RECONNECT),  # read_only_sql_transaction: writer became a reader
        ("40001", ErrorClass.RETRY),  # serialization_failure
        ("40P01", ErrorClass.RETRY),  # deadlock_detected
        ("28P01", ErrorClass.AUTH),  # invalid_password
        ("28000", ErrorClass.AUTH),  # invalid_authorization_specification
        ("42601", ErrorClass.NEVER),  # syntax_error
        ("23505", ErrorClass.NEVER),  # unique_violation
        ("23503", ErrorClass.NEVER),  # foreign_key_violation
        ("22P02", ErrorClass.NEVER),  # invalid_text_representation
        ("42P01", ErrorClass.NEVER),  # undefined_table
        ("57014", ErrorClass.NEVER),  # query_canceled (statement_timeout): not blindly retried
        ("53100", ErrorClass.NEVER),  # disk_full
    ],
)
def test_classify_by_sqlstate(sqlstate: str, expected: ErrorClass) -> None:
    exc = pg_errors.lookup(sqlstate)("message text is irrelevant")
    assert exc.sqlstate == sqlstate
    assert classify(exc) is expected


def test_classify_ignores_message_text() -> None:
    # The seed matched "connection reset" in the message; a syntax error saying so is still a syntax error.
    assert classify(pg_errors.SyntaxError("server closed the connection unexpectedly")) is ErrorClass.NEVER
    # ...and a lost connection is recognised whatever its wording (or language).
    assert classify(psycopg.OperationalError("la connexion au serveur a été perdue")) is ErrorClass.RECONNECT


def test_classify_errors_without_sqlstate() -> None:
    assert classify(OperationTimeout("no answer")) is ErrorClass.RECONNECT
    assert classify(LoginRejected("rejected")) is ErrorClass.AUTH
    assert classify(ConnectionResetError()) is ErrorClass.RECONNECT
    assert classify(psycopg.InterfaceError("cursor closed")) is ErrorClass.NEVER
    assert classify(psycopg.ProgrammingError("bad placeholder")) is ErrorClass.NEVER
    assert classify(ValueError("bug")) is ErrorClass.NEVER
    assert classify(KeyError("order_id")) is ErrorClass.NEVER


# --- backoff and the retry loop (fake connection sources) -------------------------------------------

def test_backoff_is_full_jitter_capped_exponential() -> None:
    backoff = Backoff(base_s=0.1, cap_s=1.0)
    assert [backoff.ceiling_s(n) for n in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    rng = random.Random(7)
    for attempt in range(12):
        delays = [backoff.delay_s(attempt, rng) for _ in range(200)]
        assert all(0.0 <= d <= backoff.ceiling_s(attempt) for d in delays)
        # full jitter: spread over the whole interval, not clustered at the top
        assert min(delays) < 0.25 * backoff.ceiling_s(attempt) < 0.75 * backoff.ceiling_s(attempt) < max(delays)
    assert backoff.ceiling_s(10_000) == 1.0  # no overflow


class FailingSource:
    """A connection source whose checkout always raises *exc*; counts attempts."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.attempts = 0

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Any]:
        self.attempts += 1
        raise self.exc
        yield  # pragma: no cover


def test_retry_stops_at_max_attempts() -> None:
    source = FailingSource(pg_errors.AdminShutdown("terminating connection"))
    sleeps: list[float] = []
    with pytest.raises(RetriesExhausted) as info:
        run_transaction(lambda c: 1, connection_source=source, max_attempts=4, deadline_s=60,
                        backoff=Backoff(base_s=0.5, cap_s=8), sleep=sleeps.append, rng=random.Random(1))
    assert source.attempts == 4 and info.value.attempts == 4
    assert isinstance(info.value.__cause__, pg_errors.AdminShutdown)
    assert len(sleeps) == 3
    assert all(0 <= s <= min(8, 0.5 * 2**n) for n, s in enumerate(sleeps))


def test_retry_respects_the_overall_deadline() -> None:
    source = FailingSource(psycopg.OperationalError("connection refused"))
    started = time.monotonic()
    with pytest.raises(RetriesExhausted):
        run_transaction(lambda c: 1, connection_source=source, max_attempts=1000, deadline_s=0.3,
                        backoff=Backoff(base_s=0.02, cap_s=0.05))
    elapsed = time.monotonic() - started
    assert elapsed < 0.3 + 0.5  # never sleeps past the deadline
    assert 2 < source.attempts < 1000


def test_never_class_is_not_retried() -> None:
    source = FailingSource(pg_errors.UniqueViolation("duplicate key"))
    with pytest.raises(pg_errors.UniqueViolation):
        run_transaction(lambda c: 1, connection_source=source, sleep=lambda s: None)
    assert source.attempts == 1


class Creds:
    def __init__(self) -> None:
        self.refreshes = 0

    def refresh(self) -> None:
        self.refreshes += 1


def test_auth_failure_refreshes_credentials_once() -> None:
    source = FailingSource(LoginRejected("login rejected"))
    creds = Creds()
    with pytest.raises(LoginRejected):
        run_transaction(lambda c: 1, connection_source=source, credentials=creds, sleep=lambda s: None)
    assert creds.refreshes == 1 and source.attempts == 2
    # without a refreshable provider, an auth failure is final
    source = FailingSource(pg_errors.InvalidPassword("password authentication failed"))
    with pytest.raises(pg_errors.InvalidPassword):
        run_transaction(lambda c: 1, connection_source=source, sleep=lambda s: None)
    assert source.attempts == 1


# --- settings -----------------------------------------------------------------------------------------

def test_settings_defaults_are_failover_friendly() -> None:
    settings = ConnectionSettings(host="proxy.example", dbname="app", user="app", password="s3cret-pw")
    kwargs = settings.connect_kwargs()
    assert kwargs["sslmode"] == "require"
    assert kwargs["keepalives"] == 1 and kwargs["keepalives_idle"] <= 10
    assert kwargs["tcp_user_timeout"] <= 30_000
    assert kwargs["connect_timeout"] <= 5
    assert kwargs["target_session_attrs"] == "read-write"
    assert kwargs["options"].startswith("-c statement_timeout=")
    assert kwargs["password"] == "s3cret-pw"
    assert "password" not in settings.connect_kwargs(include_password=False)
    assert "s3cret-pw" not in repr(settings)
    verified = ConnectionSettings(host="h", dbname="d", user="u", sslrootcert="/ca.pem")
    assert verified.connect_kwargs()["sslmode"] == "verify-full"
    assert verified.connect_kwargs()["sslrootcert"] == "/ca.pem"


def test_password_callable_is_called_per_connection() -> None:
    calls = iter(["one", "two"])
    settings = ConnectionSettings(host="h", dbname="d", user="u", password=lambda: next(calls))
    assert settings.connect_kwargs()["password"] == "one"
    assert settings.connect_kwargs()["password"] == "two"


def test_from_env_names_every_missing_variable() -> None:
    with pytest.raises(MissingSetting) as info:
        ConnectionSettings.from_env(environ={"DB_HOST": "h"})
    assert "DB_NAME" in str(info.value) and "DB_USER" in str(info.value) and "DB_HOST" not in str(info.value)
    settings = ConnectionSettings.from_env(
        "APP_", environ={"APP_HOST": "h", "APP_NAME": "d", "APP_USER": "u", "APP_PORT": "6432", "APP_OPERATION_TIMEOUT_S": "2.5"}
    )
    assert (settings.host, settings.dbname, settings.user) == ("h", "d", "u")
    assert (settings.port, settings.operation_timeout_s) == (6432, 2.5)
    with pytest.raises(ValueError, match="DB_PORT"):
        ConnectionSettings.from_env(environ={"DB_HOST": "h", "DB_NAME": "d", "DB_USER": "u", "DB_PORT": "five"})
    with pytest.raises(ValueError, match="sslmode"):
        ConnectionSettings(host="h", dbname="d", user="u", sslmode="required")


# --- credentials: cache expiry with an injected clock ---------------------------------------------

class FakeRdsClient:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def generate_db_auth_token(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        return f"token-{len(self.calls)}"


def test_iam_token_is_cached_and_renewed_before_expiry() -> None:
    now = [1000.0]
    client = FakeRdsClient()
    provider = IamTokenProvider("proxy.example", 5432, "app", "eu-west-1", client=client, renew_margin_s=120,
                                clock=lambda: now[0])
    assert provider() == "token-1"
    now[0] += 60
    assert provider() == "token-1"  # cached
    now[0] += 15 * 60 - 120 - 60 - 1  # 1 s before the renewal point
    assert provider() == "token-1"
    now[0] += 1  # renewal point: 2 minutes before the 15-minute expiry
    assert provider() == "token-2"
    assert provider.refresh() == "token-3"  # forced, after a rejected login
    assert client.calls[0] == {"DBHostname": "proxy.example", "Port": 5432, "DBUsername": "app", "Region": "eu-west-1"}
    assert "token" not in repr(provider).replace("IamTokenProvider", "")


class FakeSecretsClient:
    def __init__(self, value: str) -> None:
        self.value = value
        self.calls = 0

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:  # noqa: N803 (boto3 name)
        self.calls += 1
        return {"SecretString": self.value, "VersionId": f"v{self.calls}"}


def test_secret_cache_ttl_and_refresh_rate_limit() -> None:
    now = [0.0]
    client = FakeSecretsClient(json.dumps({"username": "app", "password": "pw-1"}))
    provider = SecretsManagerProvider("arn:secret", client=client, ttl_s=100, min_refresh_interval_s=5, clock=lambda: now[0])
    assert provider() == "pw-1" and provider() == "pw-1" and client.calls == 1
    client.value = json.dumps({"username": "app", "password": "pw-2"})
    assert provider.refresh() == "pw-1" and client.calls == 1  # just fetched: no second call within 5 s
    now[0] = 6
    assert provider.refresh() == "pw-2" and client.calls == 2
    assert provider.refresh() == "pw-2" and client.calls == 2  # a burst of failures costs one call
    now[0] = 200
    assert provider() == "pw-2" and client.calls == 3  # TTL expired
    assert "pw-" not in repr(provider)
    plain = SecretsManagerProvider("arn:plain", client=FakeSecretsClient("just-a-password"))
    assert plain() == "just-a-password"


# --- JSON and the Lambda's input validation --------------------------------------------------------

def test_json_of_database_values() -> None:
    value = {"total": decimal.Decimal("12.50"), "at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "d": dt.date(2026, 1, 2)}
    assert json.loads(to_json(value)) == {"total": "12.50", "at": "2026-01-02T03:04:05+00:00", "d": "2026-01-02"}
    with pytest.raises(TypeError):
        to_json({"x": object()})


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"order_id": 42}, 42),
        ({"order_id": "42"}, 42),
        ({"order_id": " 7 "}, 7),
        ({"pathParameters": {"order_id": "9"}}, 9),
        ({"queryStringParameters": {"order_id": "10"}, "pathParameters": None}, 10),
        ({"body": json.dumps({"order_id": 11})}, 11),
        ({"body": "eyJvcmRlcl9pZCI6IDEyfQ==", "isBase64Encoded": True}, 12),
    ],
)
def test_parse_order_id_accepts(event: dict[str, Any], expected: int) -> None:
    assert lambda_handler.parse_order_id(event) == expected


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"order_id": None},
        {"order_id": ""},
        {"order_id": "abc"},
        {"order_id": "1; DROP TABLE orders"},
        {"order_id": -1},
        {"order_id": 0},
        {"order_id": 1.5},
        {"order_id": True},
        {"order_id": 2**63},
        {"order_id": "٣"},  # a non-ASCII digit
        {"pathParameters": None, "queryStringParameters": None, "body": None},
        {"body": "{not json"},
        {"body": "!!", "isBase64Encoded": True},
        ["order_id", 1],
        None,
    ],
)
def test_bad_events_are_400_without_touching_the_database(event: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_database() -> None:
        raise AssertionError("the database must not be touched for a bad request")

    monkeypatch.setattr(lambda_handler, "_get_state", no_database)
    response = lambda_handler.handler(event, None)
    assert response["statusCode"] == 400
    body = json.loads(response["body"])
    assert "order_id" in body["message"] or "body" in body["message"] or "event" in body["message"]
    assert response["headers"]["Content-Type"] == "application/json"


def test_handler_config_names_missing_variables() -> None:
    with pytest.raises(MissingSetting) as info:
        lambda_handler.HandlerConfig.from_env({"DB_USER": "app"})
    message = str(info.value)
    assert "DB_PROXY_ENDPOINT" in message and "DB_NAME" in message and "AWS_REGION" in message
    assert "DB_USER" not in message
    with pytest.raises(MissingSetting, match="DB_PASSWORD_SECRET_ARN"):
        lambda_handler.HandlerConfig.from_env(
            {"DB_AUTH": "secret", "DB_PROXY_ENDPOINT": "p", "DB_USER": "u", "DB_NAME": "n", "AWS_REGION": "us-east-1"}
        )
    config = lambda_handler.HandlerConfig.from_env(
        {"DB_AUTH": "password", "DB_PASSWORD": "pw", "DB_PROXY_ENDPOINT": "p", "DB_USER": "u", "DB_NAME": "n",
         "DB_READER_ENDPOINT": "r"}
    )
    assert config.writer.sslmode == "require" and config.reader is not None and config.reader.host == "r"


def test_handler_config_reader_user() -> None:
    base = {"DB_AUTH": "password", "DB_PASSWORD": "pw", "DB_PROXY_ENDPOINT": "p", "DB_USER": "orders_admin", "DB_NAME": "n"}
    config = lambda_handler.HandlerConfig.from_env({**base, "DB_READER_ENDPOINT": "r", "DB_READER_USER": "orders_reader"})
    assert config.reader is not None
    assert (config.reader.host, config.reader.user) == ("r", "orders_reader")
    assert (config.writer.host, config.writer.user) == ("p", "orders_admin")  # the proxy keeps the master user
    # Without DB_READER_USER the reader uses DB_USER, as before the variable existed.
    config = lambda_handler.HandlerConfig.from_env({**base, "DB_READER_ENDPOINT": "r"})
    assert config.reader is not None and config.reader.user == "orders_admin"
    # A reader user without a reader endpoint is ignored.
    config = lambda_handler.HandlerConfig.from_env({**base, "DB_READER_USER": "orders_reader"})
    assert config.reader is None and config.writer.user == "orders_admin"


# --- naming: every duration carries its unit ---------------------------------------------------------

_DURATION_WORDS = ("timeout", "idle", "interval", "lifetime", "margin", "deadline", "cooldown", "ttl", "cap", "base")


def test_every_duration_parameter_names_its_unit() -> None:
    import dataclasses
    import inspect as _inspect

    from dbclient import credentials, layer, pool, retry
    from dbclient.aws import AwsTimeouts

    def numeric(annotation: object) -> bool:
        return any(t in str(annotation) for t in ("float", "int"))

    names: dict[str, str] = {}
    for cls in (ConnectionSettings, Backoff, AwsTimeouts):
        names.update({f"{cls.__name__}.{f.name}": f.name for f in dataclasses.fields(cls) if numeric(f.type)})
    for fn in (retry.run_transaction, retry.run_read, pool.make_pool, layer.build_layer,
               credentials.IamTokenProvider.__init__, credentials.SecretsManagerProvider.__init__):
        names.update({f"{fn.__qualname__}({p.name})": p.name for p in _inspect.signature(fn).parameters.values()
                      if numeric(p.annotation)})
    assert len(names) > 20
    offenders = [where for where, name in names.items()
                 if any(word in name for word in _DURATION_WORDS) and not name.endswith(("_s", "_ms"))]
    assert offenders == []


def test_lambda_reads_the_old_operation_timeout_name_too() -> None:
    base = {"DB_AUTH": "password", "DB_PASSWORD": "pw", "DB_PROXY_ENDPOINT": "p", "DB_USER": "u", "DB_NAME": "n"}
    assert lambda_handler.HandlerConfig.from_env({**base, "DB_OPERATION_TIMEOUT_S": "2.5"}).writer.operation_timeout_s == 2.5
    assert lambda_handler.HandlerConfig.from_env({**base, "DB_OPERATION_TIMEOUT": "4"}).writer.operation_timeout_s == 4.0
    with pytest.raises(MissingSetting, match="DB_OPERATION_TIMEOUT_S"):
        lambda_handler.HandlerConfig.from_env({**base, "DB_OPERATION_TIMEOUT_S": "soon"})
    with pytest.raises(MissingSetting, match="DB_PORT"):
        lambda_handler.HandlerConfig.from_env({**base, "DB_PORT": "-1"})


def test_a_slow_name_resolution_cannot_hold_a_connect_past_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import threading

    from dbclient.connect import connect
    from dbclient.deadline import connect_deadline

    release = threading.Event()
    real_getaddrinfo = socket.getaddrinfo

    def slow_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "slow-dns.example":
            release.wait(10)  # a resolver that does not answer
            raise socket.gaierror("timed out")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)
    settings = ConnectionSettings(host="slow-dns.example", dbname="d", user="u", password="pw")
    started = time.monotonic()
    try:
        with connect_deadline(started + 0.3), pytest.raises(OperationTimeout, match="resolving 'slow-dns.example'"):
            connect(settings)
        assert time.monotonic() - started < 0.3 + 0.3
    finally:
        release.set()
