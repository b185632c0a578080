"""policies/rules/storage_security.py: encryption at its effective value, storage limits, CA certificate."""

from __future__ import annotations

import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, Resource, resource_violations, stack_violations
from policy_harness import CLEAN, check, clean_setup

from policies.rules import storage_security
from policies.rules.resource_types import INSTANCE
from policies.rules.storage_security import (
    RDS_CA_CERTIFICATE,
    RDS_STORAGE_ENCRYPTED,
    RDS_STORAGE_LIMITS,
    SNAPSHOT,
    SNAPSHOT_COPY,
)

CASES: list[Case] = [
    ("rds-storage-encrypted", "unencrypted", clean_setup(primary={"storage_encrypted": False}),
     clean_setup(replica={"storage_encrypted": None})),
    ("rds-storage-encrypted", "unset", clean_setup(primary={"storage_encrypted": None, "kms_key_id": None}), CLEAN),
    ("rds-storage-limits", "gp3_iops_below_400", clean_setup(primary={"storage_type": "gp3", "iops": 6000}),
     clean_setup(primary={"storage_type": "gp3", "allocated_storage": 400, "iops": 12000, "storage_throughput": 500})),
    ("rds-ca-certificate", "retired", clean_setup(primary={"ca_cert_identifier": "rds-ca-2019"}),
     clean_setup(primary={"ca_cert_identifier": "rds-ca-ecc384-g1"})),
]


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad), policy)
    assert_clean(check(good))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(storage_security, CASES)


# --- Fast layer -----------------------------------------------------------------------------------------


def _instance(name: str, deps: dict[str, list[str]] | None = None, **props) -> Resource:
    return Resource(INSTANCE, name, props, deps or {})


def test_encryption_is_judged_at_its_default_and_replicas_inherit():
    (finding,) = stack_violations(RDS_STORAGE_ENCRYPTED, [_instance("orders", engine="postgres")])
    assert "unset (false)" in finding.message and 'aws.rds.Instance "orders"' in finding.message
    assert stack_violations(RDS_STORAGE_ENCRYPTED, [_instance("a", storageEncrypted="false")])
    # a key without storageEncrypted = true does not encrypt (CloudFormation and the API require both)
    assert stack_violations(RDS_STORAGE_ENCRYPTED, [_instance("a", kmsKeyId="arn:aws:kms:us-east-1:1:key/k")])
    # computed from another resource: not known yet, not judged
    key = Resource("aws:kms/key:Key", "key")
    computed = _instance("a", {"storageEncrypted": ["key"]}, storageEncrypted=UNKNOWN)
    assert stack_violations(RDS_STORAGE_ENCRYPTED, [key, computed]) == []
    # unknown with no dependency: a planned output the provider computes, i.e. the program omitted it
    (finding,) = stack_violations(RDS_STORAGE_ENCRYPTED, [_instance("a", storageEncrypted=UNKNOWN)])
    assert "unset (false)" in finding.message
    # a replica has its source's encryption: an external source is not judged, the in-stack one is judged once
    assert stack_violations(RDS_STORAGE_ENCRYPTED, [_instance("r", replicateSourceDb="arn:aws:rds:x")]) == []
    stack = [_instance("p"), _instance("r", {"replicateSourceDb": ["p"]}, replicateSourceDb=UNKNOWN)]
    assert [f.urn.rsplit("::", 1)[1] for f in stack_violations(RDS_STORAGE_ENCRYPTED, stack)] == ["p"]


def test_restores_take_the_encryption_of_their_snapshot_or_source():
    external = _instance("restored", snapshotIdentifier="arn:aws:rds:us-east-1:1:snapshot:orders-encrypted")
    assert stack_violations(RDS_STORAGE_ENCRYPTED, [external]) == []  # cannot tell: not judged
    plain = _instance("legacy", storageEncrypted=False, identifier="legacy-db")
    snap = Resource(SNAPSHOT, "snap", {"dbInstanceIdentifier": "legacy-db", "dbSnapshotIdentifier": "legacy-snap"})
    restored = _instance("restored", snapshotIdentifier="legacy-snap")
    findings = stack_violations(RDS_STORAGE_ENCRYPTED, [plain, snap, restored])
    assert {f.urn.rsplit("::", 1)[1] for f in findings} == {"legacy", "restored"}
    assert any('restored from aws.rds.Snapshot "snap"' in f.message for f in findings)
    encrypted_snap = Resource(SNAPSHOT, "snap", {"encrypted": True, "dbSnapshotIdentifier": "legacy-snap"})
    assert stack_violations(RDS_STORAGE_ENCRYPTED, [encrypted_snap, restored]) == []
    copy = Resource(SNAPSHOT_COPY, "copy", {"kmsKeyId": UNKNOWN}, {})
    from_copy = _instance("restored", {"snapshotIdentifier": ["copy"]}, snapshotIdentifier=UNKNOWN)
    assert stack_violations(RDS_STORAGE_ENCRYPTED, [copy, from_copy]) == []
    pitr = _instance("pitr", restoreToPointInTime={"sourceDbInstanceIdentifier": "legacy-db", "useLatestRestorableTime": True})
    assert [f.urn.rsplit("::", 1)[1] for f in stack_violations(RDS_STORAGE_ENCRYPTED, [plain, pitr])] == ["legacy", "pitr"]


@pytest.mark.parametrize(("props", "fragment"), [
    ({"allocatedStorage": 10}, "outside 20-65536 GiB for gp2"),  # storageType omitted: gp2
    ({"iops": 500, "allocatedStorage": 100}, "outside 1000-256000 for io1"),  # iops without a type: io1
    ({"storageType": "io2", "allocatedStorage": 50, "iops": 3000}, "outside 100-65536"),
    ({"storageType": "gp3", "allocatedStorage": 100, "storageThroughput": 250}, "below 400 GiB"),
    ({"storageType": "gp2", "allocatedStorage": 100, "maxAllocatedStorage": 100}, "at least 10 % above"),
    ({"storageType": "standard", "allocatedStorage": 100, "iops": 1000}, "iops cannot be set on standard"),
    ({"storageType": "gp3", "allocatedStorage": 100, "iops": 3000}, "below 400 GiB"),  # even the baseline value
])
def test_storage_limits_on_resource_dicts(props, fragment):
    (finding,) = resource_violations(RDS_STORAGE_LIMITS, INSTANCE, props)
    assert fragment in finding.message and "`pulumi up` fails" in finding.message


@pytest.mark.parametrize("props", [
    {"allocatedStorage": 20},
    {"storageType": "gp3", "allocatedStorage": 100, "iops": 0, "storageThroughput": 0},  # the provider's "not set"
    {"storageType": "gp3", "allocatedStorage": 100, "maxAllocatedStorage": 0},
    {"storageType": "gp3", "allocatedStorage": UNKNOWN, "maxAllocatedStorage": 500},
    {"storageType": UNKNOWN, "iops": 100},
    {"replicateSourceDb": "orders-db", "allocatedStorage": 5},  # ignored on a replica
])
def test_storage_limits_accept(props):
    assert resource_violations(RDS_STORAGE_LIMITS, INSTANCE, props) == []


def test_ca_certificate_on_resource_dicts():
    assert resource_violations(RDS_CA_CERTIFICATE, INSTANCE, {}) == []  # the Region's default CA
    assert resource_violations(RDS_CA_CERTIFICATE, INSTANCE, {"caCertIdentifier": UNKNOWN}) == []
    (finding,) = resource_violations(RDS_CA_CERTIFICATE, INSTANCE, {"caCertIdentifier": "rds-ca-2019"})
    assert "expired on 2024-08-22" in finding.message
    assert resource_violations(RDS_CA_CERTIFICATE, INSTANCE, {"caCertIdentifier": "rds-ca-rsa2048-g1"}) == []


def test_storage_limits_are_postgres_limits():
    assert resource_violations(RDS_STORAGE_LIMITS, INSTANCE, {"engine": "sqlserver-se", "allocatedStorage": 10}) == []
    assert resource_violations(RDS_STORAGE_LIMITS, INSTANCE, {"engine": "postgres", "allocatedStorage": 10})
