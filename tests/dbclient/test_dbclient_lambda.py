"""The order lookup Lambda end to end against a real database (password auth over TCP as ``app``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from bench.pgcluster import APP_PASSWORD, PgCluster, free_port
from dbclient import lambda_handler
from dbclient.errors import MissingSetting

pytestmark = pytest.mark.postgres


class Context:
    def __init__(self, remaining_ms: int = 9000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_env(pg: PgCluster, su: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    su.execute("DELETE FROM orders")
    su.execute("INSERT INTO orders (id, customer_id, status, total, created_at) "
               "VALUES (42, 7, 'shipped', 12.50, '2026-01-02 03:04:05+00')")
    su.execute("GRANT SELECT ON orders TO app")
    env = {
        "DB_PROXY_ENDPOINT": "127.0.0.1",
        "DB_PORT": str(pg.port),
        "DB_USER": "app",
        "DB_NAME": "app",
        "DB_AUTH": "password",
        "DB_PASSWORD": APP_PASSWORD,
        "DB_SSLMODE": "require",
        "DB_OPERATION_TIMEOUT_S": "3",
        "AWS_LAMBDA_FUNCTION_NAME": "order-lookup-test",
    }
    for key in ("DB_READER_ENDPOINT", "DB_PASSWORD_SECRET_ARN", "DB_SSLROOTCERT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    lambda_handler.reset()
    try:
        yield env
    finally:
        lambda_handler.reset()


def test_found_order_is_200_with_json_body(lambda_env: dict[str, str]) -> None:
    response = lambda_handler.handler({"order_id": 42}, Context())
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    body = json.loads(response["body"])
    assert body == {"order": {"id": 42, "customer_id": 7, "status": "shipped", "total": "12.50",
                              "created_at": "2026-01-02T03:04:05+00:00"}}
    json.dumps(response)  # the whole response is JSON-serializable


def test_api_gateway_shapes(lambda_env: dict[str, str]) -> None:
    for event in ({"pathParameters": {"order_id": "42"}}, {"queryStringParameters": {"order_id": "42"}},
                  {"body": json.dumps({"order_id": 42})}):
        assert lambda_handler.handler(event, Context())["statusCode"] == 200


def test_unknown_order_is_404(lambda_env: dict[str, str]) -> None:
    response = lambda_handler.handler({"order_id": 4242}, Context())
    assert response["statusCode"] == 404
    assert json.loads(response["body"]) == {"message": "order 4242 not found"}


def test_bad_request_is_400_and_opens_no_connection(lambda_env: dict[str, str]) -> None:
    response = lambda_handler.handler({"order_id": "42 OR 1=1"}, Context())
    assert response["statusCode"] == 400
    assert "order_id" in json.loads(response["body"])["message"]
    assert lambda_handler._state is None  # no configuration loaded, no connection opened


def test_connection_is_reused_and_reopened_after_a_failure(lambda_env: dict[str, str], pg: PgCluster,
                                                           terminate: Any) -> None:
    for _ in range(3):
        assert lambda_handler.handler({"order_id": 42}, Context())["statusCode"] == 200
    state = lambda_handler._state
    assert state is not None and state.writer.opened == 1  # one connection for three invocations
    assert terminate(pg, "order-lookup-test") == 1
    assert lambda_handler.handler({"order_id": 42}, Context())["statusCode"] == 200
    assert state.writer.opened == 2


def test_database_down_is_503_and_logs_no_secret(lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("DB_PORT", str(free_port()))  # nothing listens there
    lambda_handler.reset()
    with caplog.at_level(logging.DEBUG):
        response = lambda_handler.handler({"order_id": 42}, Context(remaining_ms=2500))
    assert response["statusCode"] == 503
    assert APP_PASSWORD not in caplog.text and APP_PASSWORD not in response["body"]
    assert "database unavailable" in caplog.text


def test_wrong_password_is_logged_without_it(lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("DB_PASSWORD", "not-the-password-but-secret")
    lambda_handler.reset()
    with caplog.at_level(logging.DEBUG):
        response = lambda_handler.handler({"order_id": 42}, Context())
    assert response["statusCode"] == 503
    assert "not-the-password-but-secret" not in caplog.text
    assert "LoginRejected" in caplog.text


def test_missing_configuration_fails_the_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    for key in ("DB_PROXY_ENDPOINT", "DB_USER", "DB_NAME", "DB_AUTH", "DBCLIENT_LAZY_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "order-lookup")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    lambda_handler.reset()
    try:
        with pytest.raises(MissingSetting, match="DB_PROXY_ENDPOINT, DB_USER, DB_NAME"):
            importlib.reload(lambda_handler)
    finally:
        monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
        importlib.reload(lambda_handler)
