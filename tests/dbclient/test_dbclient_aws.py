"""Credentials against moto's AWS (mock_aws), and secret rotation against real PostgreSQL."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import boto3
import psycopg
import pytest
from moto import mock_aws

from bench.pgcluster import PgCluster
from dbclient.connect import connect
from dbclient.credentials import IamTokenProvider, SecretsManagerProvider
from dbclient.errors import LoginRejected
from dbclient.retry import run_transaction

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


class CountingClient:
    """Wraps a boto3 client and counts GetSecretValue calls."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.get_calls = 0

    def get_secret_value(self, **kwargs: Any) -> Any:
        self.get_calls += 1
        return self.client.get_secret_value(**kwargs)


def test_iam_token_generation(aws: None) -> None:
    provider = IamTokenProvider("proxy-abc.proxy-xyz.us-east-1.rds.amazonaws.com", 5432, "app", REGION)
    token = provider()
    host, _, query = token.partition("/?")
    assert host == "proxy-abc.proxy-xyz.us-east-1.rds.amazonaws.com:5432"
    params = urllib.parse.parse_qs(query)
    assert params["Action"] == ["connect"] and params["DBUser"] == ["app"]
    assert params["X-Amz-Expires"] == ["900"]  # 15 minutes
    assert params["X-Amz-Credential"][0].split("/")[2:4] == [REGION, "rds-db"]
    assert provider() == token and provider.generated == 1  # cached
    assert token not in repr(provider)


def test_secrets_manager_read_and_cache(aws: None) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    arn = sm.create_secret(Name="db/app", SecretString=json.dumps({"username": "app", "password": "pw-one"}))["ARN"]
    client = CountingClient(sm)
    provider = SecretsManagerProvider(arn, client=client)
    assert provider() == "pw-one" and provider() == "pw-one"
    assert provider.username == "app"
    assert client.get_calls == 1
    assert "pw-one" not in repr(provider)


def test_rotation_old_password_fails_new_one_fetched_once(aws: None, pg: PgCluster, make_settings: Any,
                                                          su: psycopg.Connection[Any]) -> None:
    su.execute("DROP ROLE IF EXISTS rotating")
    su.execute("CREATE ROLE rotating LOGIN PASSWORD 'before-rotation'")
    try:
        sm = boto3.client("secretsmanager", region_name=REGION)
        arn = sm.create_secret(Name="db/rotating", SecretString=json.dumps({"username": "rotating",
                                                                          "password": "before-rotation"}))["ARN"]
        client = CountingClient(sm)
        provider = SecretsManagerProvider(arn, client=client, min_refresh_interval_s=0)
        settings = make_settings(pg, user="rotating", password=provider)
        assert run_transaction(lambda c: c.execute("SELECT current_user").fetchone(), connection_source=lambda: connect(settings),
                               credentials=provider) == ("rotating",)
        assert client.get_calls == 1

        # Rotation: the database and the secret change; the provider still caches the old password.
        su.execute("ALTER ROLE rotating PASSWORD 'after-rotation'")
        sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": "rotating", "password": "after-rotation"}))
        with pytest.raises(LoginRejected):
            connect(settings)  # the old password fails
        assert client.get_calls == 1

        result = run_transaction(lambda c: c.execute("SELECT current_user").fetchone(),
                                 connection_source=lambda: connect(settings), credentials=provider)
        assert result == ("rotating",)
        assert client.get_calls == 2  # the new one was fetched exactly once
        assert provider() == "after-rotation"
    finally:
        su.execute("DROP ROLE IF EXISTS rotating")


def test_lambda_config_with_iam_auth_signs_tokens_for_the_proxy(aws: None) -> None:
    from dbclient.lambda_handler import HandlerConfig

    config = HandlerConfig.from_env({"DB_PROXY_ENDPOINT": "orders.proxy-abc.us-east-1.rds.amazonaws.com", "DB_USER": "orders_app",
                                     "DB_NAME": "orders", "AWS_REGION": REGION, "DB_READER_ENDPOINT": "orders-ro.proxy-abc.x"})
    assert config.auth == "iam"
    writer_token = config.writer.resolve_password()
    assert writer_token is not None and writer_token.startswith("orders.proxy-abc.us-east-1.rds.amazonaws.com:5432/?")
    assert "DBUser=orders_app" in writer_token
    assert writer_token not in repr(config)
    assert config.reader is not None
    reader_token = config.reader.resolve_password()
    assert reader_token is not None and reader_token.startswith("orders-ro.proxy-abc.x:5432/?")  # signed for its own host
    assert "DBUser=orders_app" in reader_token  # no DB_READER_USER: the reader uses DB_USER


def test_lambda_config_with_iam_auth_signs_reader_tokens_for_the_reader_user(aws: None) -> None:
    """Tokens are per host and user: the replica's is for the rds_iam reader, the proxy's for the master user."""
    from dbclient.lambda_handler import HandlerConfig

    proxy = "orders-prod-proxy.proxy-abc.us-east-1.rds.amazonaws.com"
    replica = "orders-prod-db-replica-1.abc.us-east-1.rds.amazonaws.com"
    config = HandlerConfig.from_env({"DB_PROXY_ENDPOINT": proxy, "DB_USER": "orders_admin", "DB_NAME": "orders",
                                     "AWS_REGION": REGION, "DB_READER_ENDPOINT": replica, "DB_READER_USER": "orders_reader"})
    assert config.reader is not None
    assert isinstance(config.writer.password, IamTokenProvider) and isinstance(config.reader.password, IamTokenProvider)
    assert (config.reader.password.host, config.reader.password.user) == (replica, "orders_reader")
    assert (config.writer.password.host, config.writer.password.user) == (proxy, "orders_admin")

    def signed(token: str | None) -> tuple[str, dict[str, list[str]]]:
        assert token is not None
        where, _, query = token.partition("/?")
        return where, urllib.parse.parse_qs(query)

    reader_where, reader_params = signed(config.reader.resolve_password())
    writer_where, writer_params = signed(config.writer.resolve_password())
    assert reader_where == f"{replica}:5432" and reader_params["DBUser"] == ["orders_reader"]
    assert writer_where == f"{proxy}:5432" and writer_params["DBUser"] == ["orders_admin"]
    for params in (reader_params, writer_params):
        assert params["Action"] == ["connect"]
        assert params["X-Amz-Credential"][0].split("/")[2:4] == [REGION, "rds-db"]
    assert config.reader.user == "orders_reader" and config.writer.user == "orders_admin"
