"""policies/rules/availability.py: Multi-AZ, backups, deletion protection, final snapshot."""

from __future__ import annotations

import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, resource_violations
from policy_harness import CLEAN, check, clean_setup

from policies.rules import availability
from policies.rules.availability import (
    RDS_BACKUP_RETENTION,
    RDS_BACKUPS_ENABLED,
    RDS_DELETION_PROTECTION,
    RDS_FINAL_SNAPSHOT,
    RDS_MULTI_AZ,
)
from policies.rules.resource_types import INSTANCE

CASES: list[Case] = [
    ("rds-multi-az", "false", clean_setup(primary={"multi_az": False}), clean_setup(replica={"multi_az": False})),
    ("rds-multi-az", "unset", clean_setup(primary={"multi_az": None}), CLEAN),
    ("rds-backups-enabled", "zero", clean_setup(primary={"backup_retention_period": 0}), CLEAN),
    ("rds-backup-retention", "short", clean_setup(primary={"backup_retention_period": 3}),
     clean_setup(primary={"backup_retention_period": 7})),
    ("rds-backup-retention", "unset", clean_setup(primary={"backup_retention_period": None}), CLEAN),
    ("rds-deletion-protection", "off", clean_setup(primary={"deletion_protection": False}),
     clean_setup(replica={"deletion_protection": False})),
    ("rds-final-snapshot", "skipped", clean_setup(primary={"skip_final_snapshot": True}), CLEAN),
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
