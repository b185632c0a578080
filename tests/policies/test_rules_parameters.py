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
    RDS_MAX_CONNECTIONS_WITHOUT_PROXY,
    RDS_MEMORY_BUDGET,
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
            "reports", identifier="reports-db", engine="postgres", instance_class="db.r6g.large", allocated_storage=50,
            storage_encrypted=True, username="postgres", password="x" * 16, multi_az=True, publicly_accessible=False,
            parameter_group_name=params.name, backup_retention_period=14, deletion_protection=True,
            skip_final_snapshot=False, final_snapshot_identifier="reports-final",
            iam_database_authentication_enabled=True,
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
    ("rds-max-connections-without-proxy", "raised",
     clean_setup(extra=_extra_instance("3000", proxied=False)),
     clean_setup(extra=_extra_instance("1000", proxied=False))),
    ("rds-max-connections-without-proxy", "raised_but_proxied",
     clean_setup(extra=_extra_instance("LEAST({DBInstanceClassMemory/4000000},5000)", proxied=False)),
     clean_setup(extra=_extra_instance("3000", proxied=True))),
]


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad), policy)
    assert_clean(check(good))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(parameters, CASES)


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
