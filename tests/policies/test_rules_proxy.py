"""policies/rules/proxy.py: TLS, logging, borrow timeout, pinning filters, endpoints, targets, pool headroom."""

from __future__ import annotations

from collections.abc import Callable

import pulumi_aws as aws
import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, Resource, resource_violations, stack_violations
from policy_harness import CLEAN, Ctx, check, clean_setup, env_config

from policies.rules import proxy
from policies.rules.proxy import (
    PROXY_BORROW_TIMEOUT,
    PROXY_POOL_HEADROOM,
    PROXY_REQUIRE_TLS,
    PROXY_TARGET_NOT_REPLICA,
)
from policies.rules.resource_types import INSTANCE, PROXY, PROXY_TARGET, PROXY_TARGET_GROUP


def _endpoint(role: str) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        aws.rds.ProxyEndpoint("reader", db_proxy_name=ctx.proxy.name, db_proxy_endpoint_name="reader",
                              vpc_subnet_ids=["subnet-0a1b2c3d4e5f60001"], target_role=role)

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
    ("proxy-pool-headroom", "idle_above_max",
     clean_setup(pool={"max_connections_percent": 50, "max_idle_connections_percent": 60}),
     clean_setup(pool={"max_connections_percent": 50, "max_idle_connections_percent": 50})),
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
