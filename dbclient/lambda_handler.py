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
ISO 8601).  Any event gets such a JSON answer with a string body, never an
uncaught exception.

The deadline comes from the invocation: the handler answers before
``context.get_remaining_time_in_millis()`` runs out (less
:data:`RESPONSE_MARGIN_S`), whatever the configured timeouts.  Connecting, each
query and every AWS call (IAM token, Secrets Manager, STS) stop there.  The
database or the credentials not being available within that time is a 503 with
the reason in the log.  The connection is kept across invocations and reopened
after a failure.  Logs carry error types, AWS error codes and SQLSTATEs, never
passwords or tokens.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dbclient.connect import ConnectionSettings, connect
from dbclient.deadline import connect_deadline
from dbclient.errors import BadRequest, CommitOutcomeUnknown, CredentialsUnavailable, MissingSetting, RetriesExhausted
from dbclient.jsonutil import to_json
from dbclient.retry import SingleConnection, run_read

__all__ = ["handler", "HandlerConfig", "parse_order_id", "reset"]

logger = logging.getLogger(__name__)
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

ORDER_QUERY = "SELECT id, customer_id, status, total, created_at FROM orders WHERE id = %s"
MAX_BIGINT = 2**63 - 1
#: Time kept back from the Lambda's remaining time for building the response.
RESPONSE_MARGIN_S = 0.3
#: The budget when the invocation's remaining time is unknown, and the most any invocation spends.
DEFAULT_DEADLINE_S = 8.0
#: API Gateway caps payloads at 10 MB; a body longer than this is not parsed.
MAX_BODY_CHARS = 1_000_000


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
        # At cold start (INIT, outside any invocation's time): load botocore and the service models now.
        for settings in (config.writer, config.reader):
            warm_up = getattr(settings.password, "warm_up", None) if settings is not None else None
            if callable(warm_up):
                warm_up()

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
    """The order id from a direct or API Gateway (v1 or v2) event; :class:`BadRequest` if missing or malformed.

    Looked for, in this order: ``order_id`` at the top level (direct invoke),
    ``pathParameters``, ``queryStringParameters``, then a JSON object ``body``
    (base64-encoded when ``isBase64Encoded``).  Whatever the event holds, the
    outcome is an int or :class:`BadRequest`: never another exception.
    """
    if not isinstance(event, Mapping):
        raise BadRequest("the event must be a JSON object")
    for candidate in _candidates(event):
        return _as_order_id(candidate)
    raise BadRequest("order_id is required")


def _candidates(event: Mapping[Any, Any]) -> Iterator[Any]:
    if "order_id" in event:
        yield event["order_id"]
    for section in ("pathParameters", "queryStringParameters"):
        params = event.get(section)
        if isinstance(params, Mapping) and "order_id" in params:
            yield params["order_id"]
    body = event.get("body")
    if isinstance(body, Mapping):  # a direct invoke may pass the body as an object
        parsed: Any = body
    elif isinstance(body, str) and body.strip():
        parsed = _parse_body(body, base64_encoded=event.get("isBase64Encoded") is True)
    else:
        return
    if isinstance(parsed, Mapping) and "order_id" in parsed:
        yield parsed["order_id"]


def _parse_body(body: str, *, base64_encoded: bool) -> Any:
    if len(body) > MAX_BODY_CHARS:
        raise BadRequest(f"the body is larger than {MAX_BODY_CHARS} characters")
    if base64_encoded:
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise BadRequest("the body is not valid base64-encoded UTF-8") from None
    try:
        return json.loads(body)
    except RecursionError:
        raise BadRequest("the body is nested too deeply") from None
    except ValueError:  # includes integers longer than Python's int limit
        raise BadRequest("the body is not valid JSON") from None


def _as_order_id(value: Any) -> int:
    if isinstance(value, bool):
        raise BadRequest("order_id must be a positive integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise BadRequest("order_id must be a positive integer")
        digits = text.lstrip("0")
        if len(digits) > len(str(MAX_BIGINT)):  # before int(): thousands of digits would raise ValueError
            raise BadRequest(f"order_id must be at most {MAX_BIGINT}")
        number = int(digits or "0")
    else:
        raise BadRequest("order_id must be a positive integer")
    if number < 1:
        raise BadRequest("order_id must be a positive integer")
    if number > MAX_BIGINT:
        raise BadRequest(f"order_id must be at most {MAX_BIGINT}")
    return number


def _response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "isBase64Encoded": False,
        "body": to_json(body),
    }


def _budget_s(context: Any) -> float:
    """Seconds the handler may spend: the invocation's remaining time less a margin for answering.

    With no usable context (a local call, a test double), :data:`DEFAULT_DEADLINE_S`.
    """
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        try:
            remaining_s = float(remaining()) / 1000.0
        except Exception:  # a test double without a usable clock
            return DEFAULT_DEADLINE_S
        if math.isfinite(remaining_s):
            return min(DEFAULT_DEADLINE_S, remaining_s - RESPONSE_MARGIN_S)
    return DEFAULT_DEADLINE_S


def _fetch_order(conn: psycopg.Connection[Any], order_id: int) -> dict[str, Any] | None:
    row = conn.execute(ORDER_QUERY, (order_id,)).fetchone()
    return dict(row) if row is not None else None


_UNAVAILABLE = {"message": "the database is temporarily unavailable, please retry"}


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Look an order up by id; an API Gateway proxy response for any event, before the invocation's deadline."""
    started = time.monotonic()
    budget_s = _budget_s(context)
    deadline = started + budget_s
    try:
        order_id = parse_order_id(event)
    except BadRequest as exc:
        return _response(400, {"message": str(exc)})
    if budget_s <= 0:
        logger.error("order lookup not attempted: %.3f s left in the invocation", budget_s + RESPONSE_MARGIN_S)
        return _response(503, _UNAVAILABLE)
    try:
        state = _get_state()
        # Everything below, the password provider's AWS calls included, stops at the deadline.
        with connect_deadline(deadline):
            order = run_read(
                lambda conn: _fetch_order(conn, order_id),
                readers=[state.reader] if state.reader is not None else [],
                writer=state.writer,
                deadline_s=max(0.0, deadline - time.monotonic()),
                credentials=state.credentials,
            )
        if order is None:
            return _response(404, {"message": f"order {order_id} not found"})
        return _response(200, {"order": order})
    except CredentialsUnavailable as exc:
        # The message names what failed and why (error type or AWS error code), never the secret.
        logger.error("order lookup failed: credentials unavailable: %s after %.2f s", exc, time.monotonic() - started)
        return _response(503, _UNAVAILABLE)
    except (RetriesExhausted, CommitOutcomeUnknown, psycopg.OperationalError) as exc:
        cause = exc.last if isinstance(exc, RetriesExhausted) else exc
        logger.error(
            "order lookup failed: database unavailable (%s, sqlstate %s) after %.2f s",
            type(cause).__name__, getattr(cause, "sqlstate", None), time.monotonic() - started,
        )
        return _response(503, _UNAVAILABLE)
    except MissingSetting as exc:
        logger.error("order lookup failed: the function is misconfigured: %s", exc)
        return _response(503, _UNAVAILABLE)
    except psycopg.Error as exc:
        logger.error("order lookup failed: %s (sqlstate %s)", type(exc).__name__, exc.sqlstate)
        return _response(500, {"message": "internal error"})
    except Exception as exc:  # a bug: still a JSON answer, and the type in the log (not the message: it may hold data)
        logger.error("order lookup failed: unexpected %s", type(exc).__name__)
        return _response(500, {"message": "internal error"})


# Inside Lambda, fail the cold start (INIT) with a clear message when configuration is missing,
# instead of failing every invocation later.
if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and os.environ.get("DBCLIENT_LAZY_CONFIG") != "1":
    _get_state()
