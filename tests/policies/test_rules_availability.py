"""policies/rules/availability.py: Multi-AZ, backups, deletion protection, final snapshot."""

from __future__ import annotations

import pulumi_aws as aws
import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, Resource, resource_violations, stack_violations
from policy_harness import CLEAN, Ctx, check, clean_setup

from policies.rules import availability
from policies.rules.availability import (
    RDS_BACKUP_RETENTION,
    RDS_BACKUP_RETENTION_RANGE,
    RDS_BACKUPS_ENABLED,
    RDS_DELETION_PROTECTION,
    RDS_FINAL_SNAPSHOT,
    RDS_MONITORING_SETTINGS,
    RDS_MULTI_AZ,
    RDS_REPLICA_SOURCE,
)
from policies.rules.resource_types import INSTANCE, PARAMETER_GROUP


def _standalone(**overrides):
    """A second primary with no replica, otherwise clean (the clean setup's primary has a replica)."""

    def extra(ctx: Ctx) -> None:
        aws.rds.Instance(
            "reports", **{
                "identifier": "reports-db", "engine": "postgres", "engine_version": "15.8", "instance_class": "db.r6g.large",
                "allocated_storage": 50, "storage_encrypted": True, "username": "postgres", "password": "x" * 16,
                "multi_az": True, "publicly_accessible": False, "backup_retention_period": 14, "deletion_protection": True,
                "final_snapshot_identifier": "reports-final", "vpc_security_group_ids": [ctx.db_sg.id], **overrides,
            },
        )

    return extra

CASES: list[Case] = [
    ("rds-multi-az", "false", clean_setup(primary={"multi_az": False}), clean_setup(replica={"multi_az": False})),
    ("rds-multi-az", "unset", clean_setup(primary={"multi_az": None}), CLEAN),
    ("rds-backups-enabled", "zero", clean_setup(extra=_standalone(backup_retention_period=0)),
     clean_setup(extra=_standalone(backup_retention_period=14))),
    ("rds-backup-retention", "short", clean_setup(primary={"backup_retention_period": 3}),
     clean_setup(primary={"backup_retention_period": 7})),
    ("rds-backup-retention", "unset", clean_setup(primary={"backup_retention_period": None}), CLEAN),
    ("rds-deletion-protection", "off", clean_setup(primary={"deletion_protection": False}),
     clean_setup(replica={"deletion_protection": False})),
    ("rds-final-snapshot", "skipped", clean_setup(primary={"skip_final_snapshot": True}), CLEAN),
    ("rds-backup-retention-range", "over_35", clean_setup(primary={"backup_retention_period": 36}),
     clean_setup(primary={"backup_retention_period": 35})),
    ("rds-replica-source", "smaller_replica", clean_setup(replica={"instance_class": "db.t3.medium"}),
     clean_setup(replica={"instance_class": "db.r6g.xlarge"})),
    ("rds-monitoring-settings", "interval_without_role", clean_setup(primary={"monitoring_interval": 30}),
     clean_setup(primary={"monitoring_interval": 0})),
]


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad), policy)
    assert_clean(check(good))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(availability, CASES)


def test_dev_config_makes_cost_policies_advisory():
    program = clean_setup(primary={"multi_az": False, "deletion_protection": False, "backup_retention_period": 3})
    dev = check(program, "dev")
    assert dev.passed and dev.fired("advisory") == {"rds-multi-az", "rds-deletion-protection", "rds-backup-retention"}
    prod = check(program, "prod")
    assert not prod.passed and prod.fired("mandatory") == {"rds-multi-az", "rds-deletion-protection", "rds-backup-retention"}
    # security stays mandatory in dev
    assert not check(clean_setup(primary={"publicly_accessible": True}), "dev").passed


# --- Fast layer: the policies alone, on resource dicts ------------------------------------------------


def test_multi_az_judges_string_booleans_and_skips_replicas_and_unknowns():
    assert resource_violations(RDS_MULTI_AZ, INSTANCE, {"multiAz": "false"}, name="orders")
    assert resource_violations(RDS_MULTI_AZ, INSTANCE, {"multiAz": "true"}) == []
    assert resource_violations(RDS_MULTI_AZ, INSTANCE, {"replicateSourceDb": UNKNOWN}) == []
    assert resource_violations(RDS_MULTI_AZ, INSTANCE, {"multiAz": UNKNOWN}) == []


def test_backup_policies_judge_the_aws_default_and_the_configured_minimum():
    (finding,) = resource_violations(RDS_BACKUP_RETENTION, INSTANCE, {}, name="orders")
    assert "AWS default 1 day" in finding.message and 'aws.rds.Instance "orders"' in finding.message
    assert resource_violations(RDS_BACKUP_RETENTION, INSTANCE, {"backupRetentionPeriod": "3"}, config={"minimumDays": 3}) == []
    # 0 is rds-backups-enabled's finding, not a second one from the retention policy
    assert resource_violations(RDS_BACKUP_RETENTION, INSTANCE, {"backupRetentionPeriod": 0}) == []
    assert resource_violations(RDS_BACKUPS_ENABLED, INSTANCE, {"backupRetentionPeriod": "0"})


def test_deletion_protection_and_final_snapshot_on_omitted_values():
    assert resource_violations(RDS_DELETION_PROTECTION, INSTANCE, {})
    assert resource_violations(RDS_FINAL_SNAPSHOT, INSTANCE, {}) == []  # the provider default keeps the snapshot
    assert resource_violations(RDS_FINAL_SNAPSHOT, INSTANCE, {"skipFinalSnapshot": True, "replicateSourceDb": "db"}) == []


def test_resource_policies_ignore_other_types():
    assert resource_violations(RDS_MULTI_AZ, "aws:rds/cluster:Cluster", {"multiAz": False}) == []


def test_backup_retention_range_on_resource_dicts():
    for days in (0, 1, 35, "7"):
        assert resource_violations(RDS_BACKUP_RETENTION_RANGE, INSTANCE, {"backupRetentionPeriod": days}) == []
    for days in (36, -1, 3.5, "90"):
        (finding,) = resource_violations(RDS_BACKUP_RETENTION_RANGE, INSTANCE, {"backupRetentionPeriod": days})
        assert "0 to 35" in finding.message
    assert resource_violations(RDS_BACKUP_RETENTION_RANGE, INSTANCE, {"backupRetentionPeriod": UNKNOWN}) == []


def test_monitoring_settings_on_resource_dicts():
    assert resource_violations(RDS_MONITORING_SETTINGS, INSTANCE, {}) == []
    assert resource_violations(RDS_MONITORING_SETTINGS, INSTANCE, {"monitoringInterval": 60, "monitoringRoleArn": UNKNOWN}) == []
    (finding,) = resource_violations(RDS_MONITORING_SETTINGS, INSTANCE, {"monitoringInterval": 20, "monitoringRoleArn": "arn:r"})
    assert "0, 1, 5, 10, 15, 30, 60" in finding.message
    (finding,) = resource_violations(RDS_MONITORING_SETTINGS, INSTANCE, {"monitoringInterval": 5})
    assert "without monitoringRoleArn" in finding.message
    assert resource_violations(RDS_MONITORING_SETTINGS, INSTANCE, {"performanceInsightsRetentionPeriod": 62}) == []
    (finding,) = resource_violations(RDS_MONITORING_SETTINGS, INSTANCE, {"performanceInsightsRetentionPeriod": 30})
    assert "31 x months" in finding.message


# --- rds-replica-source on small stacks ----------------------------------------------------------------

_KEY = "arn:aws:kms:us-west-2:123456789012:key/0a1b"


def _primary(**props) -> Resource:
    return Resource(INSTANCE, "primary", {"identifier": "orders-db", "engine": "postgres", "instanceClass": "db.r6g.large",
                                           "storageEncrypted": True, "backupRetentionPeriod": 7, **props})


def _replica(region: str | None = None, **props) -> Resource:
    base = {"replicateSourceDb": UNKNOWN, "instanceClass": "db.r6g.large"}
    if region is not None:
        base["region"] = region
    return Resource(INSTANCE, "replica", {**base, **props}, {"replicateSourceDb": ["primary"]})


def test_cross_region_replica_of_an_encrypted_source_needs_a_key_of_its_region():
    (finding,) = stack_violations(RDS_REPLICA_SOURCE, [_primary(), _replica("us-west-2")])
    assert "cross-Region replica (us-west-2, source in the stack's default Region)" in finding.message
    (finding,) = stack_violations(RDS_REPLICA_SOURCE, [_primary(region="us-east-1"), _replica("us-west-2")])
    assert "source in us-east-1" in finding.message
    assert stack_violations(RDS_REPLICA_SOURCE, [_primary(), _replica("us-west-2", kmsKeyId=_KEY)]) == []
    key = Resource("aws:kms/key:Key", "key")
    with_key = Resource(INSTANCE, "replica", {"replicateSourceDb": UNKNOWN, "region": "us-west-2", "kmsKeyId": UNKNOWN},
                        {"replicateSourceDb": ["primary"], "kmsKeyId": ["key"]})
    assert stack_violations(RDS_REPLICA_SOURCE, [_primary(), key, with_key]) == []
    # kmsKeyId unknown without a dependency: the provider's computed value in a plan, i.e. not set
    assert stack_violations(RDS_REPLICA_SOURCE, [_primary(), _replica("us-west-2", kmsKeyId=UNKNOWN)])
    assert stack_violations(RDS_REPLICA_SOURCE, [_primary(region="us-west-2"), _replica("us-west-2")]) == []
    assert stack_violations(RDS_REPLICA_SOURCE, [_primary(), _replica()]) == []  # same Region: inherits the key
    assert stack_violations(RDS_REPLICA_SOURCE, [_primary(storageEncrypted=False), _replica("us-west-2")]) == []


def test_replica_source_without_backups_and_smaller_max_connections():
    (finding,) = stack_violations(RDS_REPLICA_SOURCE, [_primary(backupRetentionPeriod=0), _replica()])
    assert "without automated backups" in finding.message
    (finding,) = stack_violations(RDS_REPLICA_SOURCE, [_primary(), _replica(instanceClass="db.t3.medium")])
    assert "max_connections 450, below" in finding.message and "1802" in finding.message
    group = Resource(PARAMETER_GROUP, "params", {"family": "postgres15", "name": "p",
                                                  "parameters": [{"name": "max_connections", "value": "500"}]})
    same = [_primary(parameterGroupName="p"), _replica(instanceClass="db.t3.medium", parameterGroupName="p"), group]
    assert stack_violations(RDS_REPLICA_SOURCE, same) == []  # both get 500 from the shared group
    external = Resource(INSTANCE, "replica", {"replicateSourceDb": "arn:aws:rds:us-east-1:1:db:other", "region": "eu-west-1"})
    assert stack_violations(RDS_REPLICA_SOURCE, [external]) == []  # the source's encryption is not known here
