"""policies/rules/parameters.py: static parameters, page units, memory budget, max_connections without a proxy."""

from __future__ import annotations

from collections.abc import Callable

import pulumi_aws as aws
import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, Resource, resource_violations, stack_violations
from policy_harness import Ctx, check, clean_setup

from policies.rules import parameters
from policies.rules.parameters import (
    RDS_ENGINE_VERSION_FAMILY,
    RDS_FORCE_SSL,
    RDS_IDLE_TRANSACTION_TIMEOUT,
    RDS_MAX_CONNECTIONS_WITHOUT_PROXY,
    RDS_MEMORY_BUDGET,
    RDS_MEMORY_WORST_CASE,
    RDS_PARAMETER_NAME_EXISTS,
    RDS_PARAMETER_UNITS,
    RDS_STATIC_PARAMETER_PENDING_REBOOT,
)
from policies.rules.resource_types import INSTANCE, PARAMETER_GROUP


def _extra_instance(max_connections: str, *, proxied: bool) -> Callable[[Ctx], None]:
    """A second, otherwise clean instance whose parameter group sets max_connections."""

    def extra(ctx: Ctx) -> None:
        params = aws.rds.ParameterGroup(
            "reports-params", family="postgres15",
            parameters=[{"name": "max_connections", "value": max_connections, "apply_method": "pending-reboot"}],
        )
        db = aws.rds.Instance(
            "reports", identifier="reports-db", engine="postgres", engine_version="15.8", instance_class="db.r6g.large",
            allocated_storage=50,
            storage_encrypted=True, username="postgres", password="x" * 16, multi_az=True, publicly_accessible=False,
            parameter_group_name=params.name, backup_retention_period=14, deletion_protection=True,
            skip_final_snapshot=False, final_snapshot_identifier="reports-final",
            iam_database_authentication_enabled=True, vpc_security_group_ids=[ctx.db_sg.id],
        )
        if proxied:
            group = aws.rds.ProxyDefaultTargetGroup(
                "reports-pool", db_proxy_name=ctx.proxy.name, connection_pool_config={"max_connections_percent": 90}
            )
            aws.rds.ProxyTarget("reports-target", db_proxy_name=ctx.proxy.name, target_group_name=group.name,
                                db_instance_identifier=db.identifier)

    return extra


CASES: list[Case] = [
    ("rds-static-parameter-pending-reboot", "max_connections",
     clean_setup(parameters=[{"name": "max_connections", "value": "2000", "apply_method": "immediate"}]),
     clean_setup(parameters=[{"name": "max_connections", "value": "2000", "apply_method": "pending-reboot"}])),
    ("rds-static-parameter-pending-reboot", "shared_buffers_default_method",
     clean_setup(parameters=[{"name": "shared_buffers", "value": "{DBInstanceClassMemory/32768}"}]),
     clean_setup(parameters=[{"name": "work_mem", "value": "6144"}])),
    ("rds-parameter-units", "shared_buffers_bytes",
     clean_setup(parameters=[{"name": "shared_buffers", "value": "{DBInstanceClassMemory/4}", "apply_method": "pending-reboot"}]),
     clean_setup(parameters=[{"name": "shared_buffers", "value": "{DBInstanceClassMemory/32768}",
                              "apply_method": "pending-reboot"}])),
    ("rds-parameter-units", "effective_cache_size_number",
     clean_setup(parameters=[{"name": "effective_cache_size", "value": "4194304"}]),  # 32 GiB on a 16 GiB class
     clean_setup(parameters=[{"name": "effective_cache_size", "value": "{DBInstanceClassMemory/16384}"}])),
    ("rds-parameter-units", "unit_suffix",
     clean_setup(parameters=[{"name": "shared_buffers", "value": "4GB", "apply_method": "pending-reboot"}]),
     clean_setup(parameters=[{"name": "shared_buffers", "value": "524288", "apply_method": "pending-reboot"}])),
    ("rds-memory-budget", "work_mem",
     clean_setup(parameters=[{"name": "work_mem", "value": "65536"}]),
     clean_setup(parameters=[{"name": "work_mem", "value": "4096"}])),
    ("rds-parameter-units", "work_mem_suffix", clean_setup(parameters=[{"name": "work_mem", "value": "64MB"}]),
     clean_setup(parameters=[{"name": "work_mem", "value": "6144"}])),
    ("rds-parameter-name-exists", "typo", clean_setup(parameters=[{"name": "idle_in_transaction_timeout", "value": "60000"}]),
     clean_setup(parameters=[{"name": "idle_in_transaction_session_timeout", "value": "60000"}])),
    ("rds-force-ssl", "off", clean_setup(parameters=[{"name": "rds.force_ssl", "value": "0"}]),
     clean_setup(parameters=[{"name": "rds.force_ssl", "value": "1"}])),
    ("rds-idle-transaction-timeout", "off",
     clean_setup(parameters=[{"name": "idle_in_transaction_session_timeout", "value": "0"}]),
     clean_setup(parameters=[{"name": "idle_in_transaction_session_timeout", "value": "300000"}])),
    ("rds-engine-version-family", "major_16_on_postgres15", clean_setup(primary={"engine_version": "16.4"}),
     clean_setup(primary={"engine_version": "15"})),
    ("rds-max-connections-without-proxy", "raised",
     clean_setup(extra=_extra_instance("3000", proxied=False)),
     clean_setup(extra=_extra_instance("1000", proxied=False))),
    ("rds-max-connections-without-proxy", "raised_but_proxied",
     clean_setup(extra=_extra_instance("LEAST({DBInstanceClassMemory/8000000},5000)", proxied=False)),
     clean_setup(extra=_extra_instance("3000", proxied=True))),
]


#: Advisory policies: the violating program passes the gate with exactly this advisory finding.
ADVISORY_CASES: list[Case] = [
    # issue 8: 16 MB work_mem with the default max_connections on a 16 GiB class is common practice
    ("rds-memory-worst-case", "work_mem_16mb_default_connections",
     clean_setup(parameters=[{"name": "work_mem", "value": "16384"}]),
     clean_setup(parameters=[{"name": "work_mem", "value": "4096"}])),
]


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad), policy)
    assert_clean(check(good))


@pytest.mark.parametrize(("policy", "case", "bad", "good"), ADVISORY_CASES, ids=case_ids(ADVISORY_CASES))
def test_advisory_policy_reports_without_blocking(policy, case, bad, good):
    result = check(bad)
    assert result.passed and result.fired() == result.fired("advisory") == {policy}
    assert_clean(check(good))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(parameters, CASES, ADVISORY_CASES)


def test_mysql_parameter_groups_are_not_judged_as_postgres():
    def program() -> None:
        aws.rds.ParameterGroup("mysql", family="mysql8.0",
                               parameters=[{"name": "max_connections", "value": "500", "apply_method": "immediate"}])

    assert check(program).violations == []


# --- Fast layer: the policies alone, on resource dicts ------------------------------------------------


def _group(*params: dict[str, str], name: str = "pg", family: str = "postgres16") -> Resource:
    return Resource(PARAMETER_GROUP, name, {"name": name, "family": family, "parameters": list(params)})


def _instance(group: str, *, by_reference: bool = True, **props: object) -> Resource:
    """An instance on *group*: through a property dependency (name unknown) or by the group's known name."""
    base = {"engine": "postgres", "instanceClass": "db.r6g.large",
            "parameterGroupName": UNKNOWN if by_reference else group, **props}
    return Resource(INSTANCE, "db", base, {"parameterGroupName": [group]} if by_reference else {})


def test_static_parameters_any_case_with_the_provider_default_method():
    (finding,) = resource_violations(
        RDS_STATIC_PARAMETER_PENDING_REBOOT, PARAMETER_GROUP,
        {"family": "postgres16", "parameters": [{"name": "Shared_Buffers", "value": "100000"}]}, name="pg",
    )
    assert "shared_buffers" in finding.message and "provider default" in finding.message
    assert resource_violations(
        RDS_STATIC_PARAMETER_PENDING_REBOOT, PARAMETER_GROUP,
        {"family": "postgres16", "parameters": [{"name": "max_connections", "value": "100", "applyMethod": UNKNOWN}]},
    ) == []
    extra = {"family": "postgres16", "parameters": [{"name": "pg_cron.x", "value": "1", "applyMethod": "immediate"}]}
    assert resource_violations(RDS_STATIC_PARAMETER_PENDING_REBOOT, PARAMETER_GROUP, extra) == []
    assert resource_violations(RDS_STATIC_PARAMETER_PENDING_REBOOT, PARAMETER_GROUP, extra,
                               config={"extraStaticParameters": ["pg_cron.x"]})


def test_parameter_units_in_a_group_no_instance_uses():
    bytes_formula = _group({"name": "shared_buffers", "value": "{DBInstanceClassMemory/2}", "applyMethod": "pending-reboot"})
    (finding,) = stack_violations(RDS_PARAMETER_UNITS, [bytes_formula])
    assert finding.urn == bytes_formula.urn and "8 kB pages" in finding.message
    plain_pages = _group({"name": "shared_buffers", "value": "4000000", "applyMethod": "pending-reboot"})
    assert stack_violations(RDS_PARAMETER_UNITS, [plain_pages]) == []  # a page count needs an instance class


def test_memory_budget_certain_overcommit_by_reference_and_by_name():
    huge = ({"name": "work_mem", "value": "1048576"}, {"name": "max_connections", "value": "1600"})
    for by_reference in (True, False):
        (finding,) = stack_violations(RDS_MEMORY_BUDGET, [_group(*huge), _instance("pg", by_reference=by_reference)])
        assert finding.urn.endswith("::db")
    assert stack_violations(RDS_MEMORY_BUDGET, [_group({"name": "work_mem", "value": "4096"}), _instance("pg")]) == []


def test_max_connections_above_default_without_proxy_on_primaries_only():
    raised = _group({"name": "max_connections", "value": "5000", "applyMethod": "pending-reboot"})
    assert stack_violations(RDS_MAX_CONNECTIONS_WITHOUT_PROXY, [raised, _instance("pg")])
    replica = _instance("pg", replicateSourceDb="orders-db")
    assert stack_violations(RDS_MAX_CONNECTIONS_WITHOUT_PROXY, [raised, replica]) == []


def test_memory_budget_design_point_follows_the_proxy_and_effective_work_mem():
    """16 MB x the default connections: advisory only; 64 MB: mandatory unless the proxy caps the connections."""
    work_mem_16 = _group({"name": "work_mem", "value": "16384"})
    assert stack_violations(RDS_MEMORY_BUDGET, [work_mem_16, _instance("pg")]) == []
    (advice,) = stack_violations(RDS_MEMORY_WORST_CASE, [work_mem_16, _instance("pg")])
    assert "32.2 GiB" in advice.message
    work_mem_64 = _group({"name": "work_mem", "value": "65536"})
    (finding,) = stack_violations(RDS_MEMORY_BUDGET, [work_mem_64, _instance("pg")])
    assert "x 361 connections sorting at once (20% of the max_connections 1802)" in finding.message
    proxy = Resource("aws:rds/proxy:Proxy", "proxy", {"name": "orders-proxy"})
    pool = Resource("aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup", "pool",
                    {"dbProxyName": UNKNOWN, "name": "default", "connectionPoolConfig": {"maxConnectionsPercent": 40}},
                    {"dbProxyName": ["proxy"]})
    target = Resource("aws:rds/proxyTarget:ProxyTarget", "target",
                      {"dbProxyName": UNKNOWN, "targetGroupName": UNKNOWN, "dbInstanceIdentifier": UNKNOWN},
                      {"dbProxyName": ["proxy"], "targetGroupName": ["pool"], "dbInstanceIdentifier": ["db"]})
    proxied = [work_mem_64, _instance("pg"), proxy, pool, target]
    assert stack_violations(RDS_MEMORY_BUDGET, proxied) == []  # 20 % of 720 x 64 MB + 4 GiB = 13 GiB
    assert stack_violations(RDS_MEMORY_WORST_CASE, proxied)
    # an omitted work_mem is PostgreSQL's 4 MB: a tiny class with many connections is judged at that value
    many = _group({"name": "max_connections", "value": "5000", "applyMethod": "pending-reboot"})
    (finding,) = stack_violations(RDS_MEMORY_BUDGET, [many, _instance("pg", instanceClass="db.t3.micro")])
    assert "work_mem 4 MB (not set: PostgreSQL's default)" in finding.message
    # one hash node: hash_mem_multiplier raised until a single query cannot fit
    hashy = _group({"name": "work_mem", "value": "2097152"}, {"name": "hash_mem_multiplier", "value": "8"},
                   {"name": "max_connections", "value": "6", "applyMethod": "pending-reboot"})
    (finding,) = stack_violations(RDS_MEMORY_BUDGET, [hashy, _instance("pg")])
    assert "one hash node" in finding.message


@pytest.mark.parametrize(("family", "name", "fires"), [
    ("postgres15", "work_mem", False),
    ("postgres15", "Work_Mem", False),
    ("postgres15", "max_conections", True),
    ("postgres15", "rds.pg_stat_ramdisk_size", True),
    ("postgres15", "stats_temp_directory", True),
    ("postgres15", "pg_stat_statements.track", False),
    ("postgres15", "port", True),  # exists, but RDS manages it
    ("postgres16", "port", True),
    ("postgres16", "max_conections", False),  # only postgres15's list is carried: other families are not guessed
    ("mysql8.0", "max_conections", False),
])
def test_parameter_names_per_family(family, name, fires):
    props = {"family": family, "parameters": [{"name": name, "value": "1"}]}
    assert bool(resource_violations(RDS_PARAMETER_NAME_EXISTS, PARAMETER_GROUP, props)) is fires
    if fires and family == "postgres15" and name != "port":
        assert resource_violations(RDS_PARAMETER_NAME_EXISTS, PARAMETER_GROUP, props,
                                   config={"extraParameterNames": [name]}) == []


def test_force_ssl_effective_value_per_family_and_default_group():
    off = _group({"name": "rds.force_ssl", "value": "0"}, family="postgres15")
    (finding,) = stack_violations(RDS_FORCE_SSL, [off, _instance("pg")])
    assert "set to '0'" in finding.message
    assert stack_violations(RDS_FORCE_SSL, [_group(family="postgres15"), _instance("pg")]) == []
    (finding,) = stack_violations(RDS_FORCE_SSL, [_group(family="postgres14"), _instance("pg")])
    assert "postgres14 defaults it to 0" in finding.message
    default_group_14 = Resource(INSTANCE, "db", {"engine": "postgres", "engineVersion": "14.12"})
    assert stack_violations(RDS_FORCE_SSL, [default_group_14])
    assert stack_violations(RDS_FORCE_SSL, [Resource(INSTANCE, "db", {"engine": "postgres", "engineVersion": "16.4"})]) == []
    assert stack_violations(RDS_FORCE_SSL, [Resource(INSTANCE, "db", {"engine": "mysql", "engineVersion": "8.0"})]) == []
    external = Resource(INSTANCE, "db", {"engine": "postgres", "engineVersion": "14.12", "parameterGroupName": "shared-pg14"})
    assert stack_violations(RDS_FORCE_SSL, [external]) == []  # a group outside the stack: not known
    named_default = Resource(INSTANCE, "db", {"engine": "postgres", "engineVersion": "14.12",
                                              "parameterGroupName": "default.postgres14"})
    assert stack_violations(RDS_FORCE_SSL, [named_default])
    unknown = _group({"name": "rds.force_ssl", "value": UNKNOWN}, family="postgres14")
    assert stack_violations(RDS_FORCE_SSL, [unknown, _instance("pg")]) == []


def test_idle_transaction_timeout_zero_only():
    for value, fires in (("0", True), (0, True), ("60000", False), (UNKNOWN, False)):
        props = {"family": "postgres15", "parameters": [{"name": "idle_in_transaction_session_timeout", "value": value}]}
        assert bool(resource_violations(RDS_IDLE_TRANSACTION_TIMEOUT, PARAMETER_GROUP, props)) is fires


def test_engine_version_family():
    group15 = _group(family="postgres15")
    assert stack_violations(RDS_ENGINE_VERSION_FAMILY, [group15, _instance("pg", engineVersion="15.8")]) == []
    version = Resource("aws:ssm/parameter:Parameter", "version")
    computed = Resource(INSTANCE, "db", {"engine": "postgres", "instanceClass": "db.r6g.large", "parameterGroupName": UNKNOWN,
                                         "engineVersion": UNKNOWN}, {"parameterGroupName": ["pg"], "engineVersion": ["version"]})
    assert stack_violations(RDS_ENGINE_VERSION_FAMILY, [group15, version, computed]) == []
    # a planned output the provider computes (no dependency) is an omitted engineVersion
    (finding,) = stack_violations(RDS_ENGINE_VERSION_FAMILY, [group15, _instance("pg", engineVersion=UNKNOWN)])
    assert "does not set engineVersion" in finding.message
    (finding,) = stack_violations(RDS_ENGINE_VERSION_FAMILY, [group15, _instance("pg")])
    assert "does not set engineVersion" in finding.message
    (finding,) = stack_violations(RDS_ENGINE_VERSION_FAMILY, [group15, _instance("pg", engineVersion="17.2")])
    assert "runs PostgreSQL 17" in finding.message
    (finding,) = stack_violations(RDS_ENGINE_VERSION_FAMILY, [_group(family="mysql8.0"), _instance("pg", engineVersion="15")])
    assert "family mysql8.0" in finding.message
    # a replica has its source's version: judged against its own group
    source = Resource(INSTANCE, "primary", {"engine": "postgres", "engineVersion": "16.4", "identifier": "orders-db"})
    replica = Resource(INSTANCE, "db", {"replicateSourceDb": "orders-db", "parameterGroupName": "pg"})
    (finding,) = stack_violations(RDS_ENGINE_VERSION_FAMILY, [source, replica, group15])
    assert "runs PostgreSQL 16" in finding.message
    assert stack_violations(RDS_ENGINE_VERSION_FAMILY, [_group(family="postgres16"), source, replica]) == []
