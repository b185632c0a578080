"""Mutation corpus for the database rules (issue 8, section 4): RDS instances and parameter groups.

Every DEFECT adds resources written in a form this repository's program does not use (an omitted
property judged at its AWS default, a second provider, a restore from a snapshot, a group used by
another instance, a replica of a replica's class, another spelling of a value, ...) and names the
policy that must report it.  Every CONTROL is a legitimate design (issue 8, section 3) that must
stay free of mandatory findings.

All hooks only add resources, each named after its case, to :func:`clean_setup`; so the defects run
together in one program and the controls in another (two program runs per shape instead of one per
case), and a finding is attributed to its case by the resource it names.  The assertions hold, for
the prod config, in each of the three shapes the CLI sends (inputs, planned, deployed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from policy_harness import CLEAN, SHAPES, SUBNETS, Ctx, check, clean_setup

from gate.analyzer import GateResult

Hook = Callable[[Ctx], None]

_POSTGRES_DEFAULTS: dict[str, Any] = {
    "engine": "postgres",
    "engine_version": "15.8",
    "instance_class": "db.r6g.large",
    "allocated_storage": 100,
    "storage_encrypted": True,
    "username": "postgres",
    "multi_az": True,
    "publicly_accessible": False,
    "backup_retention_period": 14,
    "deletion_protection": True,
    "skip_final_snapshot": False,
    "iam_database_authentication_enabled": True,
}


def _db(ctx: Ctx, case: str, **overrides: Any) -> aws.rds.Instance:
    """A primary like the clean setup's (same network, key, group), named after *case*, with *overrides*."""
    args: dict[str, Any] = {
        **_POSTGRES_DEFAULTS,
        "identifier": f"{case}-db",
        "kms_key_id": ctx.key.arn,
        "password": pulumi.Output.secret("not-a-real-password"),
        "vpc_security_group_ids": [ctx.db_sg.id],
        "parameter_group_name": ctx.params.name,
        "final_snapshot_identifier": f"{case}-final",
    }
    for key, value in overrides.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    opts = args.pop("opts", None)
    return aws.rds.Instance(f"{case}-db", **args, opts=opts)


def _group(case: str, *params: dict[str, str], family: str = "postgres15") -> aws.rds.ParameterGroup:
    return aws.rds.ParameterGroup(f"{case}-params", family=family, parameters=list(params))


def _replica(ctx: Ctx, case: str, source: aws.rds.Instance, **overrides: Any) -> aws.rds.Instance:
    args: dict[str, Any] = {
        "identifier": f"{case}-replica",
        "replicate_source_db": source.identifier,
        "instance_class": "db.r6g.large",
        "vpc_security_group_ids": [ctx.db_sg.id],
        "publicly_accessible": False,
        "parameter_group_name": ctx.params.name,
        "skip_final_snapshot": True,
        **overrides,
    }
    opts = args.pop("opts", None)
    return aws.rds.Instance(f"{case}-replica", **args, opts=opts)


# --- Defects ------------------------------------------------------------------------------------------


def _encryption_omitted(ctx: Ctx) -> None:
    _db(ctx, "enc-omitted", storage_encrypted=None, kms_key_id=None)


def _key_without_encryption_flag(ctx: Ctx) -> None:
    _db(ctx, "enc-key-only", storage_encrypted=None)


def _restored_from_unencrypted_snapshot(ctx: Ctx) -> None:
    legacy = _db(ctx, "enc-legacy", storage_encrypted=False, kms_key_id=None)
    snapshot = aws.rds.Snapshot("enc-legacy-snap", db_instance_identifier=legacy.identifier,
                                db_snapshot_identifier="enc-legacy-snap")
    _db(ctx, "enc-restored", snapshot_identifier=snapshot.id, storage_encrypted=None, kms_key_id=None,
        engine_version=None, username=None, password=None, allocated_storage=None)


def _gp3_iops_below_threshold(ctx: Ctx) -> None:
    _db(ctx, "gp3-small-iops", storage_type="gp3", allocated_storage=200, iops=3000)


def _io1_ratio(ctx: Ctx) -> None:
    _db(ctx, "io1-ratio", storage_type="io1", allocated_storage=100, iops=10000)


def _implicit_io1_small(ctx: Ctx) -> None:
    # iops without storage_type: the provider picks io1, whose minimum size is 100 GiB
    _db(ctx, "implicit-io1", allocated_storage=50, iops=1000)


def _gp2_too_small(ctx: Ctx) -> None:
    _db(ctx, "gp2-small", allocated_storage=10)  # storage_type omitted: gp2, 20 GiB minimum


def _autoscaling_headroom(ctx: Ctx) -> None:
    _db(ctx, "autoscale-tight", allocated_storage=200, max_allocated_storage=210)


def _throughput_on_gp2(ctx: Ctx) -> None:
    _db(ctx, "gp2-throughput", storage_type="gp2", storage_throughput=250)


def _ca_2019(ctx: Ctx) -> None:
    _db(ctx, "ca-2019", ca_cert_identifier="rds-ca-2019")


def _ca_misspelt(ctx: Ctx) -> None:
    _db(ctx, "ca-typo", ca_cert_identifier="rds-ca-rsa2048-g2")


def _retention_over_35(ctx: Ctx) -> None:
    _db(ctx, "retention-40", backup_retention_period=40)


def _replica_of_source_without_backups(ctx: Ctx) -> None:
    source = _db(ctx, "nobackup-src", backup_retention_period=0)
    _replica(ctx, "nobackup", source)


def _cross_region_replica_without_key(ctx: Ctx) -> None:
    west = aws.Provider("xr-nokey-west", region="us-west-2")
    group = aws.rds.ParameterGroup("xr-nokey-params", family="postgres15", opts=pulumi.ResourceOptions(provider=west))
    _replica(ctx, "xr-nokey", ctx.primary, replicate_source_db=ctx.primary.arn, parameter_group_name=group.name,
             vpc_security_group_ids=None, opts=pulumi.ResourceOptions(provider=west))


def _replica_with_less_memory(ctx: Ctx) -> None:
    _replica(ctx, "small-replica", ctx.primary, instance_class="db.t4g.medium")


def _monitoring_interval_45(ctx: Ctx) -> None:
    _db(ctx, "mon-45", monitoring_interval=45, monitoring_role_arn=ctx.role.arn)


def _monitoring_without_role(ctx: Ctx) -> None:
    _db(ctx, "mon-norole", monitoring_interval=10)


def _pi_retention_30(ctx: Ctx) -> None:
    _db(ctx, "pi-30", performance_insights_enabled=True, performance_insights_retention_period=30)


def _parameter_typo(ctx: Ctx) -> None:
    group = _group("typo", {"name": "max_conections", "value": "500", "apply_method": "pending-reboot"})
    _db(ctx, "typo", parameter_group_name=group.name)


def _parameter_removed_in_15(ctx: Ctx) -> None:
    _group("removed", {"name": "stats_temp_directory", "value": "/rdsdbdata/db/pg_stat_tmp"})


def _parameter_rds_manages(ctx: Ctx) -> None:
    _group("managed", {"name": "port", "value": "6432", "apply_method": "pending-reboot"})


def _force_ssl_off_on_a_replica_group(ctx: Ctx) -> None:
    group = _group("ssl-off", {"name": "rds.force_ssl", "value": "0"})
    _replica(ctx, "ssl-off", ctx.primary, parameter_group_name=group.name)


def _postgres14_on_its_default_group(ctx: Ctx) -> None:
    _db(ctx, "pg14-default", engine_version="14.12", parameter_group_name=None)


def _idle_in_transaction_off(ctx: Ctx) -> None:
    group = _group("idle-off", {"name": "idle_in_transaction_session_timeout", "value": "0"})
    _db(ctx, "idle-off", parameter_group_name=group.name)


def _engine_version_omitted(ctx: Ctx) -> None:
    _db(ctx, "noversion", engine_version=None)


def _major_16_on_postgres15_group(ctx: Ctx) -> None:
    _db(ctx, "pg16", engine_version="16.4")


def _work_mem_1gb_1600_connections(ctx: Ctx) -> None:
    group = _group("mem-1gb", {"name": "work_mem", "value": "1048576"},
                   {"name": "max_connections", "value": "1600", "apply_method": "pending-reboot"})
    _db(ctx, "mem-1gb", parameter_group_name=group.name)


def _default_work_mem_on_a_tiny_class(ctx: Ctx) -> None:
    # work_mem omitted (4 MB) but 5,000 connections on 1 GiB
    group = _group("mem-tiny", {"name": "max_connections", "value": "5000", "apply_method": "pending-reboot"})
    _db(ctx, "mem-tiny", instance_class="db.t4g.micro", parameter_group_name=group.name)


def _statement_timeout_with_unit(ctx: Ctx) -> None:
    group = _group("timeout-unit", {"name": "statement_timeout", "value": "30s"})
    _db(ctx, "timeout-unit", parameter_group_name=group.name)


def _shared_buffers_in_bytes(ctx: Ctx) -> None:
    group = _group("buffers-bytes", {"name": "shared_buffers", "value": "{DBInstanceClassMemory*3/8}",
                                     "apply_method": "pending-reboot"})
    _db(ctx, "buffers-bytes", parameter_group_name=group.name)


def _static_parameter_default_method(ctx: Ctx) -> None:
    _group("static-default", {"name": "shared_preload_libraries", "value": "pg_stat_statements,pg_cron"})


def _standalone_without_backups(ctx: Ctx) -> None:
    _db(ctx, "nobackups", backup_retention_period=0)


def _short_retention(ctx: Ctx) -> None:
    _db(ctx, "short-retention", backup_retention_period=3)


def _multi_az_omitted(ctx: Ctx) -> None:
    _db(ctx, "single-az", multi_az=None)


def _deletion_protection_omitted(ctx: Ctx) -> None:
    _db(ctx, "unprotected", deletion_protection=None)


def _final_snapshot_skipped(ctx: Ctx) -> None:
    _db(ctx, "nofinal", skip_final_snapshot=True, final_snapshot_identifier=None)


def _raised_max_connections_without_proxy(ctx: Ctx) -> None:
    group = _group("raised", {"name": "max_connections", "value": "{DBInstanceClassMemory/4000000}",
                              "apply_method": "pending-reboot"})
    _db(ctx, "raised", parameter_group_name=group.name)


#: (case, hook, policy that must newly report it, at the mandatory level, on one of the case's resources)
DEFECTS: list[tuple[str, Hook, str]] = [
    ("enc-omitted", _encryption_omitted, "rds-storage-encrypted"),
    ("enc-key-only", _key_without_encryption_flag, "rds-storage-encrypted"),
    ("enc-restored", _restored_from_unencrypted_snapshot, "rds-storage-encrypted"),
    ("gp3-small-iops", _gp3_iops_below_threshold, "rds-storage-limits"),
    ("io1-ratio", _io1_ratio, "rds-storage-limits"),
    ("implicit-io1", _implicit_io1_small, "rds-storage-limits"),
    ("gp2-small", _gp2_too_small, "rds-storage-limits"),
    ("autoscale-tight", _autoscaling_headroom, "rds-storage-limits"),
    ("gp2-throughput", _throughput_on_gp2, "rds-storage-limits"),
    ("ca-2019", _ca_2019, "rds-ca-certificate"),
    ("ca-typo", _ca_misspelt, "rds-ca-certificate"),
    ("retention-40", _retention_over_35, "rds-backup-retention-range"),
    ("nobackup", _replica_of_source_without_backups, "rds-replica-source"),
    ("xr-nokey", _cross_region_replica_without_key, "rds-replica-source"),
    ("small-replica", _replica_with_less_memory, "rds-replica-source"),
    ("mon-45", _monitoring_interval_45, "rds-monitoring-settings"),
    ("mon-norole", _monitoring_without_role, "rds-monitoring-settings"),
    ("pi-30", _pi_retention_30, "rds-monitoring-settings"),
    ("typo", _parameter_typo, "rds-parameter-name-exists"),
    ("removed", _parameter_removed_in_15, "rds-parameter-name-exists"),
    ("managed", _parameter_rds_manages, "rds-parameter-name-exists"),
    ("ssl-off", _force_ssl_off_on_a_replica_group, "rds-force-ssl"),
    ("pg14-default", _postgres14_on_its_default_group, "rds-force-ssl"),
    ("idle-off", _idle_in_transaction_off, "rds-idle-transaction-timeout"),
    ("noversion", _engine_version_omitted, "rds-engine-version-family"),
    ("pg16", _major_16_on_postgres15_group, "rds-engine-version-family"),
    ("mem-1gb", _work_mem_1gb_1600_connections, "rds-memory-budget"),
    ("mem-tiny", _default_work_mem_on_a_tiny_class, "rds-memory-budget"),
    ("timeout-unit", _statement_timeout_with_unit, "rds-parameter-units"),
    ("buffers-bytes", _shared_buffers_in_bytes, "rds-parameter-units"),
    ("static-default", _static_parameter_default_method, "rds-static-parameter-pending-reboot"),
    ("nobackups", _standalone_without_backups, "rds-backups-enabled"),
    ("short-retention", _short_retention, "rds-backup-retention"),
    ("single-az", _multi_az_omitted, "rds-multi-az"),
    ("unprotected", _deletion_protection_omitted, "rds-deletion-protection"),
    ("nofinal", _final_snapshot_skipped, "rds-final-snapshot"),
    ("raised", _raised_max_connections_without_proxy, "rds-max-connections-without-proxy"),
]


# --- Controls: legitimate designs -----------------------------------------------------------------------


def _cross_region_replica_through_a_second_provider(ctx: Ctx) -> None:
    west = aws.Provider("dr-west", region="us-west-2")
    in_west = pulumi.ResourceOptions(provider=west)
    key = aws.kms.Key("dr-key", description="replica storage, us-west-2", opts=in_west)
    group = aws.rds.ParameterGroup("dr-params", family="postgres15", opts=in_west)
    sg = aws.ec2.SecurityGroup("dr-db", vpc_id="vpc-0f1e2d3c4b5a69788", description="replica", opts=in_west)
    replica = _replica(ctx, "dr", ctx.primary, replicate_source_db=ctx.primary.arn, kms_key_id=key.arn,
                       parameter_group_name=group.name, vpc_security_group_ids=[sg.id], opts=in_west)
    topic = aws.sns.Topic("dr-alerts", opts=in_west)
    aws.cloudwatch.MetricAlarm(
        "dr-replica-lag", namespace="AWS/RDS", metric_name="ReplicaLag", statistic="Average", period=60,
        evaluation_periods=3, comparison_operator="GreaterThanThreshold", threshold=30,
        dimensions={"DBInstanceIdentifier": replica.identifier}, alarm_actions=[topic.arn], opts=in_west,
    )


def _lowered_max_connections_covering_the_pool(ctx: Ctx) -> None:
    """max_connections lowered to 1,000 behind a proxy of its own whose pool (90 %) still fits under it."""
    group = _group("lowered", {"name": "max_connections", "value": "1000", "apply_method": "pending-reboot"})
    db = _db(ctx, "lowered", parameter_group_name=group.name)
    proxy = aws.rds.Proxy(
        "lowered-proxy", name="lowered-proxy", engine_family="POSTGRESQL", role_arn=ctx.role.arn, require_tls=True,
        vpc_security_group_ids=[ctx.proxy_sg.id], vpc_subnet_ids=SUBNETS,
        auths=[aws.rds.ProxyAuthArgs(auth_scheme="SECRETS", iam_auth="REQUIRED", secret_arn=ctx.secret.arn,
                                     client_password_auth_type="POSTGRES_SCRAM_SHA_256")],
    )
    pool = aws.rds.ProxyDefaultTargetGroup(
        "lowered-pool", db_proxy_name=proxy.name,
        connection_pool_config={"max_connections_percent": 90, "max_idle_connections_percent": 45,
                                "connection_borrow_timeout": 120},
    )
    aws.rds.ProxyTarget("lowered-target", db_proxy_name=proxy.name, target_group_name=pool.name,
                        db_instance_identifier=db.identifier)


def _rds_default_formulas(ctx: Ctx) -> None:
    group = _group(
        "formulas",
        {"name": "max_connections", "value": "LEAST({DBInstanceClassMemory/9531392},5000)", "apply_method": "pending-reboot"},
        {"name": "shared_buffers", "value": "{DBInstanceClassMemory/32768}", "apply_method": "pending-reboot"},
        {"name": "effective_cache_size", "value": "{DBInstanceClassMemory/16384}"},
        {"name": "maintenance_work_mem", "value": "GREATEST({DBInstanceClassMemory*1024/63963136},65536)"},
        {"name": "autovacuum_max_workers", "value": "GREATEST({DBInstanceClassMemory/64371566592},3)",
         "apply_method": "pending-reboot"},
    )
    _db(ctx, "formulas", parameter_group_name=group.name)
    plain = _group("formula-plain", {"name": "max_connections", "value": "{DBInstanceClassMemory/9531392}",
                                     "apply_method": "pending-reboot"})
    _db(ctx, "formula-plain", parameter_group_name=plain.name)


def _restored_from_an_encrypted_snapshot(ctx: Ctx) -> None:
    _db(ctx, "restored", snapshot_identifier="arn:aws:rds:us-east-1:123456789012:snapshot:orders-encrypted",
        storage_encrypted=None, kms_key_id=None, engine_version=None, username=None, password=None, allocated_storage=None)


def _common_work_mem(ctx: Ctx) -> None:
    # 16 MB work_mem with the default max_connections on 16 GiB: common practice (advisory at most)
    group = _group("workmem16", {"name": "work_mem", "value": "16384"})
    _db(ctx, "workmem16", parameter_group_name=group.name)


def _provisioned_storage(ctx: Ctx) -> None:
    _db(ctx, "gp3-big", storage_type="gp3", allocated_storage=400, iops=12000, storage_throughput=500,
        max_allocated_storage=1000)
    _db(ctx, "io2", storage_type="io2", allocated_storage=100, iops=40000, max_allocated_storage=0)


def _guards_and_tls_spelled_out(ctx: Ctx) -> None:
    group = _group(
        "guards",
        {"name": "rds.force_ssl", "value": "1"},
        {"name": "idle_in_transaction_session_timeout", "value": "60000"},
        {"name": "statement_timeout", "value": "30000"},
        {"name": "pg_stat_statements.track", "value": "all"},
        {"name": "shared_preload_libraries", "value": "pg_stat_statements", "apply_method": "pending-reboot"},
    )
    _db(ctx, "guards", parameter_group_name=group.name, ca_cert_identifier="rds-ca-rsa4096-g1",
        monitoring_interval=60, monitoring_role_arn=ctx.role.arn)


def _postgres14_forcing_tls(ctx: Ctx) -> None:
    group = _group("pg14", {"name": "rds.force_ssl", "value": "1"}, family="postgres14")
    _db(ctx, "pg14", engine_version="14.12", parameter_group_name=group.name)


#: (case, hook): designs that must pass with no mandatory finding
CONTROLS: list[tuple[str, Hook]] = [
    ("dr", _cross_region_replica_through_a_second_provider),
    ("lowered", _lowered_max_connections_covering_the_pool),
    ("formulas", _rds_default_formulas),
    ("restored", _restored_from_an_encrypted_snapshot),
    ("workmem16", _common_work_mem),
    ("storage", _provisioned_storage),
    ("guards", _guards_and_tls_spelled_out),
    ("pg14", _postgres14_forcing_tls),
]


def _all(hooks: list[Hook]) -> Hook:
    def add(ctx: Ctx) -> None:
        for hook in hooks:
            hook(ctx)

    return add


_DEFECTS = clean_setup(extra=_all([hook for _, hook, _ in DEFECTS]))
_CONTROLS = clean_setup(extra=_all([hook for _, hook in CONTROLS]))


def _mandatory(result: GateResult) -> list[tuple[str, str]]:
    return [(v.policy, v.resource_name or "") for v in result.violations if v.level == "mandatory"]


def _owner(resource_name: str) -> str | None:
    """The case a resource belongs to: the longest case id its name starts with."""
    owners = [case for case, _, _ in DEFECTS if resource_name.startswith(f"{case}-")]
    return max(owners, key=len) if owners else None


@pytest.mark.parametrize("shape", SHAPES)
def test_every_defect_raises_a_new_mandatory_finding_of_its_policy(shape):
    # New: the clean setup has none, and each finding counted names a resource of the defect's own case.
    assert _mandatory(check(CLEAN, "prod", shape=shape)) == [], "the clean setup must have no mandatory finding"
    found = {(policy, _owner(name)) for policy, name in _mandatory(check(_DEFECTS, "prod", shape=shape))}
    missed = [(case, policy) for case, _, policy in DEFECTS if (policy, case) not in found]
    assert missed == [], f"{shape}: defects not caught by their policy: {missed}"


@pytest.mark.parametrize("shape", SHAPES)
def test_no_control_has_a_mandatory_finding(shape):
    result = check(_CONTROLS, "prod", shape=shape)
    assert _mandatory(result) == [], "\n".join(f"{v.policy} on {v.resource_name}: {v.message}" for v in result.violations)


def test_case_ids_are_unique_and_each_case_owns_its_resources():
    ids = [case for case, _, _ in DEFECTS] + [case for case, _ in CONTROLS]
    assert len(ids) == len(set(ids))
    assert all(_owner(f"{case}-db") == case for case, _, _ in DEFECTS)
