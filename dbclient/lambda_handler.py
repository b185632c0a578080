"""The order lookup Lambda (the scenario's Step 5), done right.

Configuration (environment, checked at cold start; every missing variable is named):

=========================  ====================================================================
``DB_PROXY_ENDPOINT``      RDS Proxy endpoint (writer)                                required
``DB_USER``, ``DB_NAME``   database user and name                                     required
``AWS_REGION``             set by Lambda; needed to sign IAM tokens / read secrets    required for iam, secret
``DB_READER_ENDPOINT``     reader endpoint; reads try it first, then the writer       optional
``DB_READER_USER``         user on the reader endpoint (default ``DB_USER``)          optional
``DB_PORT``                default 5432                                               optional
``DB_SSLMODE``             default ``require``; ``DB_SSLROOTCERT`` => ``verify-full``  optional
``DB_AUTH``                ``iam`` (default), ``secret`` (``DB_PASSWORD_SECRET_ARN``) or
                           ``password`` (``DB_PASSWORD``; local tests)                 optional
``DB_OPERATION_TIMEOUT_S`` client-side deadline per operation, seconds (default 5;    optional
                           the older name ``DB_OPERATION_TIMEOUT`` is still read)
=========================  ====================================================================

Behaviour: the event may be ``{"order_id": 42}`` or an API Gateway proxy event
(``pathParameters``, ``queryStringParameters`` or a JSON ``body``).  A missing or
malformed ``order_id`` is a 400 and touches no database; an unknown id is a 404;
a found order is a 200 whose body is JSON (decimals as strings, timestamps in
ISO 8601).  The database being unreachable within the invocation's time is a
503.  The connection is kept across invocations and reopened after a failure.
Logs carry error types and SQLSTATEs, never passwords or tokens.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dbclient.connect import ConnectionSettings, connect
from dbclient.errors import BadRequest, CommitOutcomeUnknown, MissingSetting, RetriesExhausted
from dbclient.jsonutil import to_json
from dbclient.retry import SingleConnection, run_read

__all__ = ["handler", "HandlerConfig", "parse_order_id", "reset"]

logger = logging.getLogger(__name__)
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

ORDER_QUERY = "SELECT id, customer_id, status, total, created_at FROM orders WHERE id = %s"
MAX_BIGINT = 2**63 - 1
#: Time kept back from the Lambda's remaining time for building the response.
RESPONSE_MARGIN_S = 0.5
DEFAULT_DEADLINE_S = 8.0


@dataclass(frozen=True)
class HandlerConfig:
    writer: ConnectionSettings
    reader: ConnectionSettings | None
    auth: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HandlerConfig:
        env = os.environ if environ is None else environ
        auth = env.get("DB_AUTH", "iam").strip().lower() or "iam"
        if auth not in ("iam", "secret", "password"):
            raise MissingSetting(f"DB_AUTH must be 'iam', 'secret' or 'password', got {auth!r}")
        required = ["DB_PROXY_ENDPOINT", "DB_USER", "DB_NAME"]
        if auth in ("iam", "secret"):
            required.append("AWS_REGION")
        if auth == "secret":
            required.append("DB_PASSWORD_SECRET_ARN")
        if auth == "password":
            required.append("DB_PASSWORD")
        missing = [name for name in required if not env.get(name)]
        if missing:
            raise MissingSetting(
                f"order lookup Lambda misconfigured: missing environment variable{'s' if len(missing) > 1 else ''} "
                + ", ".join(missing)
            )
        host, user, dbname = env["DB_PROXY_ENDPOINT"], env["DB_USER"], env["DB_NAME"]
        port = _number(env, "DB_PORT", int, 5432)
        # DB_OPERATION_TIMEOUT: the name before durations carried their unit (still set by older stacks).
        timeout_var = "DB_OPERATION_TIMEOUT_S" if env.get("DB_OPERATION_TIMEOUT_S") else "DB_OPERATION_TIMEOUT"
        operation_timeout_s = _number(env, timeout_var, float, 5.0)
        region = env.get("AWS_REGION")
        password: Any
        if auth == "iam":
            from dbclient.credentials import IamTokenProvider

            password = IamTokenProvider(host, port, user, region)
        elif auth == "secret":
            from dbclient.credentials import SecretsManagerProvider

            password = SecretsManagerProvider(env["DB_PASSWORD_SECRET_ARN"], region=region)
        else:
            password = env["DB_PASSWORD"]
        writer = ConnectionSettings(
            host=host,
            port=port,
            dbname=dbname,
            user=user,
            password=password,
            sslmode=env.get("DB_SSLMODE") or "require",
            sslrootcert=env.get("DB_SSLROOTCERT") or None,
            connect_timeout_s=3,
            operation_timeout_s=operation_timeout_s,
            # The server cancels a slow lookup (57014, connection kept) before the client deadline
            # would have to close the connection.
            statement_timeout_ms=max(500, int(operation_timeout_s * 800)),
            application_name=env.get("AWS_LAMBDA_FUNCTION_NAME") or "order-lookup",
            # Lookups are reads: any server will do (a writer being promoted still answers them).
            target_session_attrs="any",
        )
        reader_host = env.get("DB_READER_ENDPOINT")
        reader: ConnectionSettings | None = None
        if reader_host:
            # Replicas are reached directly, as a user granted rds_iam; the proxy's user (the master
            # user) cannot be that user, since rds_iam stops its password login.
            reader_user = env.get("DB_READER_USER") or user
            reader = replace(writer.with_host(reader_host), user=reader_user)
            if auth == "iam":
                from dbclient.credentials import IamTokenProvider

                # IAM tokens are signed for a host name and a user: the reader needs its own.
                reader = replace(reader, password=IamTokenProvider(reader_host, port, reader_user, region))
        return cls(writer=writer, reader=reader, auth=auth)


def _number(env: Mapping[str, str], name: str, convert: type[int] | type[float], default: float) -> Any:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = convert(raw)
    except ValueError:
        raise MissingSetting(f"{name} must be a {convert.__name__}, got {raw!r}") from None
    if not 0 < value < float("inf"):
        raise MissingSetting(f"{name} must be positive, got {raw!r}")
    return value


class _State:
    """What survives between invocations of a warm Lambda."""

    def __init__(self, config: HandlerConfig) -> None:
        self.config = config
        writer_settings = config.writer
        self.writer = SingleConnection(lambda: connect(writer_settings, row_factory=dict_row))
        self.reader: SingleConnection | None = None
        if config.reader is not None:
            reader_settings = config.reader
            self.reader = SingleConnection(lambda: connect(reader_settings, row_factory=dict_row))
        self.credentials = writer_settings.password if hasattr(writer_settings.password, "refresh") else None

    def close(self) -> None:
        self.writer.close()
        if self.reader is not None:
            self.reader.close()


_state: _State | None = None
_state_lock = threading.Lock()


def _get_state() -> _State:
    global _state
    with _state_lock:
        if _state is None:
            _state = _State(HandlerConfig.from_env())
        return _state


def reset() -> None:
    """Forget the configuration and close the connections (tests; a new cold start)."""
    global _state
    with _state_lock:
        if _state is not None:
            _state.close()
        _state = None


def parse_order_id(event: Any) -> int:
    """The order id from a direct or API Gateway event; :class:`BadRequest` if missing or malformed."""
    if not isinstance(event, Mapping):
        raise BadRequest("the event must be a JSON object")
    candidates: list[Any] = []
    if "order_id" in event:
        candidates.append(event["order_id"])
    for section in ("pathParameters", "queryStringParameters"):
        params = event.get(section)
        if isinstance(params, Mapping) and "order_id" in params:
            candidates.append(params["order_id"])
    body = event.get("body")
    if isinstance(body, str) and body.strip():
        if event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(body, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise BadRequest("the body is not valid base64-encoded UTF-8") from None
        try:
            parsed = json.loads(body)
        except ValueError:
            raise BadRequest("the body is not valid JSON") from None
        if isinstance(parsed, Mapping) and "order_id" in parsed:
            candidates.append(parsed["order_id"])
    if not candidates:
        raise BadRequest("order_id is required")
    return _as_order_id(candidates[0])


def _as_order_id(value: Any) -> int:
    if isinstance(value, bool):
        raise BadRequest("order_id must be a positive integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise BadRequest("order_id must be a positive integer")
    if not 1 <= number <= MAX_BIGINT:
        raise BadRequest("order_id must be a positive integer")
    return number


def _response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "isBase64Encoded": False,
        "body": to_json(body),
    }


def _deadline_s(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        try:
            return max(0.5, min(DEFAULT_DEADLINE_S, remaining() / 1000.0 - RESPONSE_MARGIN_S))
        except Exception:  # a test double without a usable clock
            pass
    return DEFAULT_DEADLINE_S


def _fetch_order(conn: psycopg.Connection[Any], order_id: int) -> dict[str, Any] | None:
    row = conn.execute(ORDER_QUERY, (order_id,)).fetchone()
    return dict(row) if row is not None else None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Look an order up by id; API Gateway proxy response."""
    try:
        order_id = parse_order_id(event)
    except BadRequest as exc:
        return _response(400, {"message": str(exc)})

    state = _get_state()
    started = time.monotonic()
    try:
        order = run_read(
            lambda conn: _fetch_order(conn, order_id),
            readers=[state.reader] if state.reader is not None else [],
            writer=state.writer,
            deadline_s=_deadline_s(context),
            credentials=state.credentials,
        )
    except (RetriesExhausted, CommitOutcomeUnknown, psycopg.OperationalError) as exc:
        cause = exc.last if isinstance(exc, RetriesExhausted) else exc
        logger.error(
            "order lookup failed: database unavailable (%s, sqlstate %s) after %.2f s",
            type(cause).__name__, getattr(cause, "sqlstate", None), time.monotonic() - started,
        )
        return _response(503, {"message": "the database is temporarily unavailable, please retry"})
    except psycopg.Error as exc:
        logger.error("order lookup failed: %s (sqlstate %s)", type(exc).__name__, exc.sqlstate)
        return _response(500, {"message": "internal error"})
    if order is None:
        return _response(404, {"message": f"order {order_id} not found"})
    return _response(200, {"order": order})


# Inside Lambda, fail the cold start (INIT) with a clear message when configuration is missing,
# instead of failing every invocation later.
if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and os.environ.get("DBCLIENT_LAZY_CONFIG") != "1":
    _get_state()
