"""policies/rules/proxy.py: TLS, logging, API ranges, auths, engine family, subnets, pinning filters, endpoints,
targets, pool headroom."""

from __future__ import annotations

from collections.abc import Callable

import pulumi_aws as aws
import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, Resource, resource_violations, stack_violations
from policy_harness import CLEAN, SUBNETS, Ctx, check, clean_setup, env_config

from policies.rules import proxy
from policies.rules.proxy import (
    PROXY_AUTH_CONFIG,
    PROXY_BORROW_TIMEOUT,
    PROXY_ENGINE_FAMILY,
    PROXY_IDLE_CLIENT_TIMEOUT,
    PROXY_PINNING_FILTERS_MATCH_ENGINE,
    PROXY_POOL_HEADROOM,
    PROXY_POOL_PERCENT_RANGES,
    PROXY_REQUIRE_TLS,
    PROXY_SUBNETS_TWO_AZS,
    PROXY_TARGET_NOT_REPLICA,
)
from policies.rules.resource_types import INSTANCE, PROXY, PROXY_ENDPOINT, PROXY_TARGET, PROXY_TARGET_GROUP

SUBNET = "aws:ec2/subnet:Subnet"
_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-AbCdEf"


def _endpoint(role: str) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        aws.rds.ProxyEndpoint("reader", db_proxy_name=ctx.proxy.name, db_proxy_endpoint_name="reader",
                              vpc_subnet_ids=SUBNETS, target_role=role)

    return add


CASES: list[Case] = [
    ("proxy-require-tls", "off", clean_setup(proxy={"require_tls": False}), CLEAN),
    ("proxy-require-tls", "unset", clean_setup(proxy={"require_tls": None}), CLEAN),
    ("proxy-debug-logging-off", "on", clean_setup(proxy={"debug_logging": True}), clean_setup(proxy={"debug_logging": False})),
    ("proxy-borrow-timeout", "too_long", clean_setup(pool={"connection_borrow_timeout": 600}),
     clean_setup(pool={"connection_borrow_timeout": 300})),
    ("proxy-borrow-timeout", "zero", clean_setup(pool={"connection_borrow_timeout": 0}),
     clean_setup(pool={"connection_borrow_timeout": 1})),
    ("proxy-pinning-filters-match-engine", "exclude_variable_sets",
     clean_setup(pool={"session_pinning_filters": ["EXCLUDE_VARIABLE_SETS"]}),
     clean_setup(pool={"init_query": "SET timezone='UTC'"})),
    ("proxy-read-only-endpoint-needs-cluster", "read_only", clean_setup(extra=_endpoint("READ_ONLY")),
     clean_setup(extra=_endpoint("READ_WRITE"))),
    ("proxy-target-not-replica", "replica", clean_setup(target="replica", replica={"iam_database_authentication_enabled": True}),
     clean_setup(target="primary")),
    ("proxy-pool-headroom", "all_connections", clean_setup(pool={"max_connections_percent": 100}),
     clean_setup(pool={"max_connections_percent": 99})),
    ("proxy-pool-percent-ranges", "idle_above_max",
     clean_setup(pool={"max_connections_percent": 50, "max_idle_connections_percent": 60}),
     clean_setup(pool={"max_connections_percent": 50, "max_idle_connections_percent": 50})),
    ("proxy-idle-client-timeout", "above_8_hours", clean_setup(proxy={"idle_client_timeout": 28_801}),
     clean_setup(proxy={"idle_client_timeout": 28_800})),
    ("proxy-engine-family", "mysql_family_for_postgres", clean_setup(proxy={"engine_family": "MYSQL", "auths": [
        aws.rds.ProxyAuthArgs(auth_scheme="SECRETS", secret_arn=_SECRET_ARN, iam_auth="REQUIRED")]}),
     clean_setup(proxy={"auths": [aws.rds.ProxyAuthArgs(auth_scheme="SECRETS", secret_arn=_SECRET_ARN, iam_auth="REQUIRED")]})),
    ("proxy-auth-config", "md5_for_mysql_client_type", clean_setup(proxy={"auths": [aws.rds.ProxyAuthArgs(
        auth_scheme="SECRETS", secret_arn=_SECRET_ARN, iam_auth="REQUIRED", client_password_auth_type="MYSQL_NATIVE_PASSWORD")]}),
     clean_setup(proxy={"auths": [aws.rds.ProxyAuthArgs(
         auth_scheme="SECRETS", secret_arn=_SECRET_ARN, iam_auth="REQUIRED", client_password_auth_type="POSTGRES_MD5")]})),
    ("proxy-subnets-two-azs", "one_subnet", clean_setup(proxy={"vpc_subnet_ids": SUBNETS[:1]}), CLEAN),
]


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad), policy)
    assert_clean(check(good))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(proxy, CASES)


def test_borrow_timeout_range_from_config():
    config = env_config("prod")
    config["proxy-borrow-timeout"] = {"maximumSeconds": 60}
    assert check(clean_setup(pool={"connection_borrow_timeout": 120}), config).fired() == {"proxy-borrow-timeout"}


# --- Fast layer: the policies alone, on resource dicts ------------------------------------------------


def test_require_tls_judged_at_its_default_and_in_string_form():
    assert resource_violations(PROXY_REQUIRE_TLS, PROXY, {"engineFamily": "POSTGRESQL"})
    assert resource_violations(PROXY_REQUIRE_TLS, PROXY, {"requireTls": "true"}) == []
    assert resource_violations(PROXY_REQUIRE_TLS, PROXY, {"requireTls": UNKNOWN}) == []


def test_borrow_timeout_as_a_string_and_from_config():
    group = {"connectionPoolConfig": {"connectionBorrowTimeout": "301"}}
    assert resource_violations(PROXY_BORROW_TIMEOUT, PROXY_TARGET_GROUP, group)
    assert resource_violations(PROXY_BORROW_TIMEOUT, PROXY_TARGET_GROUP, {"connectionPoolConfig": {}}) == []
    ninety = {"connectionPoolConfig": {"connectionBorrowTimeout": 90}}
    assert resource_violations(PROXY_BORROW_TIMEOUT, PROXY_TARGET_GROUP, ninety) == []
    assert resource_violations(PROXY_BORROW_TIMEOUT, PROXY_TARGET_GROUP, ninety, config={"maximumSeconds": 60})


def _proxied(instance_props: dict[str, object], pool: dict[str, object]) -> list[Resource]:
    """A proxy targeting an instance by its known identifier (no property dependencies)."""
    return [
        Resource(INSTANCE, "db", {"identifier": "orders-db", "instanceClass": "db.r6g.large", **instance_props}),
        Resource(PROXY, "proxy", {"name": "orders-proxy", "engineFamily": "POSTGRESQL"}),
        Resource(PROXY_TARGET_GROUP, "pool", {"dbProxyName": "orders-proxy", "connectionPoolConfig": pool}),
        Resource(PROXY_TARGET, "target", {"dbProxyName": "orders-proxy", "dbInstanceIdentifier": "orders-db"}),
    ]


def test_pool_headroom_judges_the_omitted_percent_as_100():
    (finding,) = stack_violations(PROXY_POOL_HEADROOM, _proxied({}, {}))
    assert finding.urn is not None and finding.urn.endswith("::pool")
    assert stack_violations(PROXY_POOL_HEADROOM, _proxied({}, {"maxConnectionsPercent": 90})) == []
    assert stack_violations(PROXY_POOL_HEADROOM, _proxied({}, {"maxConnectionsPercent": UNKNOWN})) == []


def test_target_not_replica_by_identifier():
    (finding,) = stack_violations(PROXY_TARGET_NOT_REPLICA, _proxied({"replicateSourceDb": "primary-db"}, {}))
    assert finding.urn is not None and finding.urn.endswith("::target")
    assert stack_violations(PROXY_TARGET_NOT_REPLICA, _proxied({}, {})) == []


# --- API constraints, fast layer -------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "bad"), [(0, True), (1, False), (1800, False), (28_800, False), (28_801, True),
                                            ("86400", True), (UNKNOWN, False), (None, False)])
def test_idle_client_timeout_range(value, bad):
    props = {} if value is None else {"idleClientTimeout": value}
    assert bool(resource_violations(PROXY_IDLE_CLIENT_TIMEOUT, PROXY, props)) is bad


@pytest.mark.parametrize(("pool", "bad"), [
    ({"maxConnectionsPercent": 0}, True),
    ({"maxConnectionsPercent": 101}, True),
    ({"maxConnectionsPercent": 1}, False),
    ({"maxIdleConnectionsPercent": 100}, False),  # maxConnectionsPercent omitted: 100
    ({"maxIdleConnectionsPercent": 101}, True),
    ({"maxIdleConnectionsPercent": -1}, True),
    ({"maxConnectionsPercent": 40, "maxIdleConnectionsPercent": 41}, True),
    ({"maxConnectionsPercent": 40, "maxIdleConnectionsPercent": 40}, False),
    ({"maxConnectionsPercent": UNKNOWN, "maxIdleConnectionsPercent": 60}, False),
    ({"maxConnectionsPercent": "30", "maxIdleConnectionsPercent": "31"}, True),
])
def test_pool_percent_ranges(pool, bad):
    found = resource_violations(PROXY_POOL_PERCENT_RANGES, PROXY_TARGET_GROUP, {"connectionPoolConfig": pool})
    assert bool(found) is bad


def _auth(**entry: object) -> dict[str, object]:
    return {"authScheme": "SECRETS", "secretArn": _SECRET_ARN, **entry}


@pytest.mark.parametrize(("props", "bad"), [
    ({"engineFamily": "POSTGRESQL", "auths": [_auth()]}, False),
    ({"engineFamily": "POSTGRESQL"}, True),  # no auths and no IAM_AUTH
    ({"engineFamily": "POSTGRESQL", "defaultAuthScheme": "IAM_AUTH"}, False),
    ({"engineFamily": "POSTGRESQL", "defaultAuthScheme": "IAM"}, True),
    ({"engineFamily": "POSTGRESQL", "auths": [_auth(authScheme="IAM")]}, True),
    ({"engineFamily": "POSTGRESQL", "auths": [{"authScheme": "SECRETS", "iamAuth": "REQUIRED"}]}, True),
    ({"engineFamily": "POSTGRESQL", "auths": [_auth(iamAuth="ENABLED")]}, True),
    ({"engineFamily": "SQLSERVER", "auths": [_auth(iamAuth="ENABLED", clientPasswordAuthType="SQL_SERVER_AUTHENTICATION")]},
     False),
    ({"engineFamily": "POSTGRESQL", "auths": [_auth(iamAuth="OPTIONAL")]}, True),
    ({"engineFamily": "POSTGRESQL", "auths": [_auth(clientPasswordAuthType="POSTGRES_MD5")]}, False),
    ({"engineFamily": "POSTGRESQL", "auths": [_auth(clientPasswordAuthType="MYSQL_CACHING_SHA2_PASSWORD")]}, True),
    ({"engineFamily": "POSTGRESQL", "auths": [_auth(), _auth(clientPasswordAuthType="SQL_SERVER_AUTHENTICATION")]}, True),
    ({"engineFamily": "POSTGRESQL", "auths": [_auth(iamAuth="REQUIRED"), _auth(iamAuth="DISABLED")]}, False),
    ({"engineFamily": "POSTGRESQL", "auths": UNKNOWN}, False),
])
def test_auth_entries(props, bad):
    assert bool(resource_violations(PROXY_AUTH_CONFIG, PROXY, props)) is bad


def _family_stack(family: str, engine: str | None) -> list[Resource]:
    db_props = {"identifier": "orders-db"} | ({"engine": engine} if engine else {})
    return [
        Resource(INSTANCE, "db", db_props),
        Resource(PROXY, "proxy", {"name": "orders-proxy", "engineFamily": family}),
        Resource(PROXY_TARGET, "target", {"dbProxyName": UNKNOWN, "dbInstanceIdentifier": UNKNOWN},
                 {"dbProxyName": ["proxy"], "dbInstanceIdentifier": ["db"]}),
    ]


@pytest.mark.parametrize(("family", "engine", "bad"), [
    ("POSTGRESQL", "postgres", False), ("POSTGRESQL", "aurora-postgresql", False), ("MYSQL", "postgres", True),
    ("SQLSERVER", "postgres", True), ("POSTGRESQL", "mysql", True), ("MYSQL", "mariadb", False),
    ("SQLSERVER", "sqlserver-se", False), ("postgresql", "postgres", True), ("POSTGRESQL", None, False),
])
def test_engine_family_matches_the_target(family, engine, bad):
    assert bool(stack_violations(PROXY_ENGINE_FAMILY, _family_stack(family, engine))) is bad


def _subnet_stack(values: list[object], deps: list[str], azs: dict[str, object]) -> list[Resource]:
    subnets = [Resource(SUBNET, n, {"availabilityZone": az, "id": f"subnet-{n}"}) for n, az in azs.items()]
    return [*subnets, Resource(PROXY_ENDPOINT, "reader", {"vpcSubnetIds": values}, {"vpcSubnetIds": deps})]


@pytest.mark.parametrize(("values", "deps", "azs", "bad"), [
    (["subnet-a", "subnet-b"], [], {"a": "us-east-1a", "b": "us-east-1b"}, False),
    (["subnet-a", "subnet-b"], [], {"a": "us-east-1a", "b": "us-east-1a"}, True),  # one AZ
    ([UNKNOWN, UNKNOWN], ["a", "b"], {"a": "us-east-1a", "b": "us-east-1a"}, True),
    ([UNKNOWN, UNKNOWN], ["a", "b"], {"a": "us-east-1a", "b": UNKNOWN}, False),  # AZ decided at deploy
    ([UNKNOWN], ["a"], {"a": "us-east-1a"}, True),
    (["subnet-x", "subnet-y"], [], {}, False),  # subnets outside the stack
    (["subnet-x", "subnet-x"], [], {}, True),  # the same subnet twice
    (UNKNOWN, [], {}, False),
])
def test_subnets_in_two_availability_zones(values, deps, azs, bad):
    assert bool(stack_violations(PROXY_SUBNETS_TWO_AZS, _subnet_stack(values, deps, azs))) is bad


def test_unknown_pinning_filter_names_are_refused():
    stack = [
        Resource(PROXY, "proxy", {"name": "p", "engineFamily": "MYSQL"}),
        Resource(PROXY_TARGET_GROUP, "pool", {"dbProxyName": "p", "connectionPoolConfig": {
            "sessionPinningFilters": ["EXCLUDE_SET_STATEMENTS"]}}),
    ]
    assert stack_violations(PROXY_PINNING_FILTERS_MATCH_ENGINE, stack)
    stack[1].props["connectionPoolConfig"]["sessionPinningFilters"] = ["EXCLUDE_VARIABLE_SETS"]
    assert stack_violations(PROXY_PINNING_FILTERS_MATCH_ENGINE, stack) == []
