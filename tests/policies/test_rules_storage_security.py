"""policies/rules/storage_security.py: storage encryption."""

from __future__ import annotations

import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, resource_violations
from policy_harness import CLEAN, check, clean_setup

from policies.rules import storage_security
from policies.rules.resource_types import INSTANCE
from policies.rules.storage_security import RDS_STORAGE_ENCRYPTED

CASES: list[Case] = [
    ("rds-storage-encrypted", "unencrypted", clean_setup(primary={"storage_encrypted": False}),
     clean_setup(replica={"storage_encrypted": None})),
    ("rds-storage-encrypted", "unset", clean_setup(primary={"storage_encrypted": None, "kms_key_id": None}), CLEAN),
]


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad), policy)
    assert_clean(check(good))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(storage_security, CASES)


def test_encryption_is_judged_at_its_default_and_replicas_inherit():
    (finding,) = resource_violations(RDS_STORAGE_ENCRYPTED, INSTANCE, {"engine": "postgres"}, name="orders")
    assert "unset (false)" in finding.message
    assert resource_violations(RDS_STORAGE_ENCRYPTED, INSTANCE, {"storageEncrypted": "false"})
    assert resource_violations(RDS_STORAGE_ENCRYPTED, INSTANCE, {"replicateSourceDb": "arn:aws:rds:x"}) == []
    assert resource_violations(RDS_STORAGE_ENCRYPTED, INSTANCE, {"storageEncrypted": UNKNOWN}) == []
