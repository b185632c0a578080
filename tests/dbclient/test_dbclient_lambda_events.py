"""Property tests: any event gets a well-formed JSON answer (400, 404 or 200), never an exception.

``hypothesis`` generates direct invokes, API Gateway v1 (REST) and v2 (HTTP)
events, plain and base64 bodies, random JSON, hostile order ids (thousands of
digits, non-ASCII digits, floats, nested values) and deeply nested bodies.  The
handler runs against a real database, so a well-formed id really is looked up.
``-s`` prints how many examples ran.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.pgcluster import APP_PASSWORD, PgCluster
from dbclient import lambda_handler

pytestmark = pytest.mark.postgres

EXAMPLES = 150
FOUND = 42
RAN: dict[str, int] = {}


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 5000


@pytest.fixture(scope="module")
def orders(pg: PgCluster) -> Iterator[None]:
    with psycopg.connect(pg.conninfo(dbname="app"), autocommit=True) as su:
        su.execute("DELETE FROM orders")
        su.execute("INSERT INTO orders (id, customer_id, status, total, created_at) "
                   "VALUES (%s, 7, 'shipped', 12.50, '2026-01-02 03:04:05+00')", (FOUND,))
        su.execute("GRANT SELECT ON orders TO app")
    yield
    if RAN:
        print("\nhypothesis examples run per event family: "
              + ", ".join(f"{family} {count}" for family, count in RAN.items()) + f" (total {sum(RAN.values())})")


@pytest.fixture
def lambda_env(orders: None, pg: PgCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in ("DB_READER_ENDPOINT", "DB_PASSWORD_SECRET_ARN", "DB_SSLROOTCERT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {"DB_PROXY_ENDPOINT": "127.0.0.1", "DB_PORT": str(pg.port), "DB_USER": "app", "DB_NAME": "app",
                       "DB_AUTH": "password", "DB_PASSWORD": APP_PASSWORD, "DB_SSLMODE": "require"}.items():
        monkeypatch.setenv(key, value)
    lambda_handler.reset()
    try:
        yield
    finally:
        lambda_handler.reset()


# --- strategies ----------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                                        max_size=4),
                           max_leaves=20)

order_ids: st.SearchStrategy[Any] = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=1, max_value=2**63 - 1).map(str),
    st.just(FOUND) | st.just(str(FOUND)) | st.just(f" {FOUND} ") | st.just(f"000{FOUND}"),
    st.sampled_from([20, 4_300, 4_301, 6_000]).map(lambda n: "9" * n),  # up to thousands of digits
    st.sampled_from([4_300, 6_000]).map(lambda n: "0" * n + "7"),
    st.text(alphabet="0123456789٣²⁴ \t\n-+.eE", max_size=30),  # non-ASCII digits, signs, exponents
    st.floats(allow_nan=True, allow_infinity=True),
    json_values,
)


def nested_json(depth: int) -> str:
    return '{"order_id": ' + "[" * depth + "1" + "]" * depth + "}"


body_objects = st.one_of(
    st.fixed_dictionaries({"order_id": order_ids}),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    json_values,
)
bodies: st.SearchStrategy[Any] = st.one_of(
    body_objects.map(lambda value: json.dumps(value)),
    st.sampled_from([1, 10, 999, 1_000, 5_000, 100_000]).map(nested_json),  # deeply nested
    st.sampled_from([2, 1_000, 50_000]).map(lambda n: "[" * n),  # deeply nested and truncated
    st.text(max_size=50),
    st.none(),
    body_objects,  # a direct invoke may carry the body as an object
)


def encode(body: Any, base64_encoded: bool) -> Any:
    if base64_encoded and isinstance(body, str):
        return base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
    return body


string_params = st.none() | st.dictionaries(st.sampled_from(["order_id", "id", "q"]), order_ids.map(str), max_size=3)


@st.composite
def api_gateway_v1(draw: st.DrawFn) -> dict[str, Any]:
    base64_encoded = draw(st.booleans())
    return {
        "resource": "/orders/{order_id}", "path": "/orders/x", "httpMethod": draw(st.sampled_from(["GET", "POST"])),
        "headers": draw(st.none() | st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3)),
        "multiValueQueryStringParameters": None,
        "pathParameters": draw(string_params),
        "queryStringParameters": draw(string_params),
        "requestContext": {"requestId": "r", "stage": "prod"},
        "body": encode(draw(bodies), base64_encoded),
        "isBase64Encoded": base64_encoded,
    }


@st.composite
def api_gateway_v2(draw: st.DrawFn) -> dict[str, Any]:
    base64_encoded = draw(st.booleans())
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": "GET /orders/{order_id}", "rawPath": "/orders/x", "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "GET", "path": "/orders/x"}, "requestId": "r"},
        "isBase64Encoded": base64_encoded,
    }
    for key, strategy in (("pathParameters", string_params), ("queryStringParameters", string_params), ("body", bodies)):
        if draw(st.booleans()):  # v2 leaves absent sections out
            event[key] = draw(strategy)
    if "body" in event:
        event["body"] = encode(event["body"], base64_encoded)
    return event


direct_invokes = st.one_of(
    st.fixed_dictionaries({"order_id": order_ids}),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    json_values,  # not even an object
    st.fixed_dictionaries({"body": bodies, "isBase64Encoded": json_scalars}),
)


def check(response: Any) -> None:
    assert isinstance(response, dict)
    assert response["statusCode"] in (200, 400, 404), response
    assert response["headers"] == {"Content-Type": "application/json"}
    assert response["isBase64Encoded"] is False
    assert isinstance(response["body"], str)
    body = json.loads(response["body"])
    assert isinstance(body, dict)
    if response["statusCode"] == 200:
        assert body["order"]["id"] == FOUND
    else:
        assert isinstance(body["message"], str) and body["message"]


def run(family: str, event: Any) -> None:
    RAN[family] = RAN.get(family, 0) + 1
    check(lambda_handler.handler(event, Context()))


common = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                               HealthCheck.too_slow,
                                                                               HealthCheck.data_too_large])


@common
@given(event=direct_invokes)
def test_any_direct_invoke_gets_a_json_answer(lambda_env: None, event: Any) -> None:
    run("direct invoke", event)


@common
@given(event=api_gateway_v1())
def test_any_api_gateway_v1_event_gets_a_json_answer(lambda_env: None, event: dict[str, Any]) -> None:
    run("API Gateway v1", event)


@common
@given(event=api_gateway_v2())
def test_any_api_gateway_v2_event_gets_a_json_answer(lambda_env: None, event: dict[str, Any]) -> None:
    run("API Gateway v2", event)


@common
@given(order_id=st.integers(min_value=1, max_value=2**63 - 1), shape=st.sampled_from(["direct", "path", "query", "body",
                                                                                       "base64"]))
def test_a_valid_id_in_any_shape_is_looked_up(lambda_env: None, order_id: int, shape: str) -> None:
    text = json.dumps({"order_id": order_id})
    events: dict[str, dict[str, Any]] = {
        "direct": {"order_id": order_id},
        "path": {"pathParameters": {"order_id": str(order_id)}},
        "query": {"queryStringParameters": {"order_id": str(order_id)}},
        "body": {"body": text},
        "base64": {"body": base64.b64encode(text.encode()).decode(), "isBase64Encoded": True},
    }
    event = events[shape]
    RAN["valid id"] = RAN.get("valid id", 0) + 1
    response = lambda_handler.handler(event, Context())
    check(response)
    assert response["statusCode"] == (200 if order_id == FOUND else 404)


@pytest.mark.parametrize("event", [
    {"order_id": "9" * 5000},  # int() of it would raise ValueError (Python's 4300-digit limit)
    {"body": nested_json(100_000)},  # json.loads would raise RecursionError
    {"body": base64.b64encode(nested_json(50_000).encode()).decode(), "isBase64Encoded": True},
    {"body": '{"order_id": ' + "9" * 5000 + "}"},
    {"body": "x" * 2_000_000},
    {"pathParameters": {"order_id": ["42"]}},
])
def test_hostile_events_are_400(event: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lambda_handler, "_get_state", lambda: pytest.fail("a bad request must not touch the database"))
    response = lambda_handler.handler(event, None)
    assert response["statusCode"] == 400, response
    check(response)
