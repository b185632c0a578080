"""The Lambda answers before the invocation's deadline, against real sockets that fail in every way.

Each case runs with 1.5 s of remaining time and configured timeouts far longer
(operation timeout 30 s, connect timeout 3 s, libpq's 2 s floor): a database
that accepts and never answers, a closed port, a server hung after the
connection was made, Secrets Manager that accepts and never answers, refuses,
or denies, and no AWS credentials for the IAM token.  Every answer is a
well-formed JSON response, and it comes before the remaining time runs out,
every time.  ``-s`` prints each case's worst answer time against the remaining time.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.pgcluster import APP_PASSWORD, PgCluster, free_port
from dbclient import lambda_handler
from dbclient.deadline import connect_deadline

pytestmark = pytest.mark.postgres

REMAINING_MS = 1500
#: The Secrets Manager read test is about the secret (read once, never logged), not the deadline: a loaded
#: machine may need more than 1.5 s for a secret read, a login and a query.
HEALTHY_REMAINING_MS = 8000
REPEATS = 3
#: No test inserts this order: a healthy lookup is a 404.
ABSENT_ORDER = 987_654_321
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-db-AbCdEf"


class Context:
    """A Lambda context whose remaining time runs down with the clock, as the real one does."""

    def __init__(self, remaining_ms: int) -> None:
        self.ends = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.ends - time.monotonic()) * 1000))


#: (case, worst answer time, remaining time), printed at the end of the module.
FIGURES: list[tuple[str, float, float]] = []


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    if FIGURES:
        print("\nLambda answer time vs remaining time (worst of each case):")
        for case, worst, remaining in FIGURES:
            print(f"  {case:<44} {worst:.3f} s of {remaining:.1f} s")
        worst_case = max(FIGURES, key=lambda f: f[1] / f[2])
        print(f"  worst overall: {worst_case[1]:.3f} s of {worst_case[2]:.1f} s ({worst_case[0]})")


def answer_every_time(case: str, event: Any = None, remaining_ms: int = REMAINING_MS, repeats: int = REPEATS,
                      status: int = 503, cold_start: bool = True) -> list[dict[str, Any]]:
    """Invoke *repeats* times; each answer is well formed, has *status*, and comes within the remaining time.

    With *cold_start*, the function's INIT phase runs first, as Lambda runs it at import
    (outside the invocation's time): configuration read, AWS clients prepared, no connection.
    """
    event = {"pathParameters": {"order_id": str(ABSENT_ORDER)}} if event is None else event
    if cold_start:
        lambda_handler._get_state()
    responses, worst = [], 0.0
    for _ in range(repeats):
        context = Context(remaining_ms)
        started = time.monotonic()
        response = lambda_handler.handler(event, context)
        elapsed = time.monotonic() - started
        worst = max(worst, elapsed)
        assert elapsed < remaining_ms / 1000, f"{case}: answered after {elapsed:.3f} s, {remaining_ms} ms were left"
        assert response["statusCode"] == status, response
        assert isinstance(response["body"], str) and isinstance(json.loads(response["body"]), dict)
        responses.append(response)
    FIGURES.append((case, worst, remaining_ms / 1000))
    return responses


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, pg: PgCluster) -> Iterator[pytest.MonkeyPatch]:
    """Password auth to the shared cluster, with configured timeouts much longer than the remaining time."""
    for key in ("DB_READER_ENDPOINT", "DB_PASSWORD_SECRET_ARN", "DB_SSLROOTCERT", "DB_OPERATION_TIMEOUT"):
        monkeypatch.delenv(key, raising=False)
    values = {"DB_PROXY_ENDPOINT": "127.0.0.1", "DB_PORT": str(pg.port), "DB_USER": "app", "DB_NAME": "app",
              "DB_AUTH": "password", "DB_PASSWORD": APP_PASSWORD, "DB_SSLMODE": "require", "DB_OPERATION_TIMEOUT_S": "30",
              "AWS_REGION": "us-east-1"}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    lambda_handler.reset()
    try:
        yield monkeypatch
    finally:
        lambda_handler.reset()


@pytest.fixture
def aws_env(env: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Fake static AWS credentials; nothing read from this machine's AWS configuration."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        env.delenv(key, raising=False)
    env.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    env.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-access-key")
    env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    env.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    env.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return env


# --- the database ------------------------------------------------------------------------------------


def test_database_that_accepts_and_never_answers(env: pytest.MonkeyPatch, silent_listener: Any,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    env.setenv("DB_PORT", str(silent_listener.port))
    with caplog.at_level(logging.INFO, logger="dbclient"):
        answer_every_time("database accepts, never answers")
    assert silent_listener.accepted >= REPEATS  # the connections were made, and cut by the deadline
    assert "database unavailable" in caplog.text and APP_PASSWORD not in caplog.text


def test_database_port_closed(env: pytest.MonkeyPatch) -> None:
    env.setenv("DB_PORT", str(free_port()))
    answer_every_time("database port closed")


def test_database_hung_after_connecting(env: pytest.MonkeyPatch, pg_breakable: PgCluster) -> None:
    env.setenv("DB_PORT", str(pg_breakable.port))
    env.setenv("DB_SSLMODE", "disable")
    assert lambda_handler.handler({"order_id": ABSENT_ORDER}, Context(REMAINING_MS))["statusCode"] == 404  # warm connection
    pg_breakable.pause()  # SIGSTOP: the kernel ACKs, the server never answers the query
    try:
        answer_every_time("database hung after connecting")
    finally:
        pg_breakable.resume()
    assert lambda_handler.handler({"order_id": ABSENT_ORDER}, Context(REMAINING_MS))["statusCode"] == 404  # and it recovers


def test_too_little_time_left_is_503_without_a_connection(env: pytest.MonkeyPatch) -> None:
    answer_every_time("200 ms left", remaining_ms=200, cold_start=False)
    assert lambda_handler._state is None  # not even the configuration was loaded


def test_healthy_database_answers_with_short_time_too(env: pytest.MonkeyPatch) -> None:
    answer_every_time("healthy database", status=404)


# --- credentials -------------------------------------------------------------------------------------


class FakeSecretsManager(http.server.ThreadingHTTPServer):
    """Secrets Manager's JSON protocol on loopback: answers GetSecretValue with a secret, or denies it."""

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _SecretsHandler)
        self.mode = mode
        self.requests = 0
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _SecretsHandler(http.server.BaseHTTPRequestHandler):
    server: FakeSecretsManager

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests += 1
        if self.server.mode == "deny":
            status, body = 400, {"__type": "AccessDeniedException", "message": "not authorized to GetSecretValue"}
        else:
            status, body = 200, {"ARN": SECRET_ARN, "Name": "orders-db", "VersionId": "v1",
                                 "SecretString": json.dumps({"username": "app", "password": APP_PASSWORD})}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        pass


@pytest.fixture
def secrets_manager(request: pytest.FixtureRequest) -> Iterator[FakeSecretsManager]:
    server = FakeSecretsManager(request.param)
    try:
        yield server
    finally:
        server.stop()


def _secret_auth(env: pytest.MonkeyPatch, endpoint_url: str) -> None:
    env.setenv("DB_AUTH", "secret")
    env.delenv("DB_PASSWORD")
    env.setenv("DB_PASSWORD_SECRET_ARN", SECRET_ARN)
    env.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint_url)  # botocore's per-service endpoint_url


@pytest.mark.parametrize("secrets_manager", ["secret"], indirect=True)
def test_secret_read_from_secrets_manager_and_never_logged(aws_env: pytest.MonkeyPatch, secrets_manager: FakeSecretsManager,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    _secret_auth(aws_env, secrets_manager.url)
    with caplog.at_level(logging.DEBUG, logger="dbclient"):
        answer_every_time("secret read, healthy database", status=404, remaining_ms=HEALTHY_REMAINING_MS)
    assert secrets_manager.requests == 1  # cached across invocations
    assert APP_PASSWORD not in caplog.text


def test_secrets_manager_that_accepts_and_never_answers(aws_env: pytest.MonkeyPatch, silent_listener: Any,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    _secret_auth(aws_env, f"http://127.0.0.1:{silent_listener.port}")
    with caplog.at_level(logging.INFO, logger="dbclient"):
        answer_every_time("Secrets Manager accepts, never answers")
    assert silent_listener.accepted >= REPEATS
    assert "credentials unavailable" in caplog.text and "ReadTimeoutError" in caplog.text


def test_secrets_manager_unreachable(aws_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _secret_auth(aws_env, f"http://127.0.0.1:{free_port()}")
    with caplog.at_level(logging.INFO, logger="dbclient"):
        answer_every_time("Secrets Manager port closed")
    assert "credentials unavailable" in caplog.text and "EndpointConnectionError" in caplog.text


@pytest.mark.parametrize("secrets_manager", ["deny"], indirect=True)
def test_secrets_manager_denied(aws_env: pytest.MonkeyPatch, secrets_manager: FakeSecretsManager,
                                caplog: pytest.LogCaptureFixture) -> None:
    _secret_auth(aws_env, secrets_manager.url)
    with caplog.at_level(logging.INFO, logger="dbclient"):
        answer_every_time("Secrets Manager denies")
    assert "credentials unavailable" in caplog.text and "AccessDeniedException" in caplog.text
    assert secrets_manager.requests == REPEATS  # a denial is final: one request per invocation, no retries


def test_no_aws_credentials_for_the_iam_token(aws_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    aws_env.setenv("DB_AUTH", "iam")
    aws_env.delenv("DB_PASSWORD")
    aws_env.delenv("AWS_ACCESS_KEY_ID")
    aws_env.delenv("AWS_SECRET_ACCESS_KEY")
    with caplog.at_level(logging.INFO, logger="dbclient"):
        answer_every_time("no AWS credentials (IAM token)")
    assert "credentials unavailable" in caplog.text and "NoCredentialsError" in caplog.text
    assert "IAM auth token" in caplog.text


def test_the_error_path_leaves_no_thread_or_connection_behind(env: pytest.MonkeyPatch, silent_listener: Any) -> None:
    env.setenv("DB_PORT", str(silent_listener.port))
    before = threading.active_count()
    answer_every_time("database accepts, never answers (again)", repeats=1)
    state = lambda_handler._state
    assert state is not None and state.writer._conn is None
    assert threading.active_count() <= before
    # Nothing half-open was kept: the next use opens a new connection (cut at its own deadline again).
    with connect_deadline(time.monotonic() + 0.3), pytest.raises(psycopg.OperationalError), state.writer.connection():
        pass
