"""The gate on whole programs: the seed scenario (rejected), our dev and prod stacks (accepted), a synthetic stack."""

from __future__ import annotations

import pytest
from policy_harness import ROOT, SEED, env_config

from gate.analyzer import PolicyGate
from gate.program import read_stack_config, run_program
from gate.synthetic import SETUP_RESOURCES, synthetic_program

#: What the seed's Terraform gets wrong that the pack must catch (see tests/fixtures/seed_program/__main__.py).
SEED_POLICIES = {
    "rds-ingress-only-from-proxy",  # the database group still admits the app tier
    "rds-security-groups-set",  # the read replica sets no groups: RDS gives it the VPC's default group
    "rds-master-username",  # "admin"
    "rds-static-parameter-pending-reboot",  # max_connections and shared_buffers with "immediate"
    "rds-parameter-units",  # shared_buffers = {DBInstanceClassMemory/4}
    "proxy-role-can-read-secret",  # no role_arn
    "proxy-pinning-filters-match-engine",  # EXCLUDE_VARIABLE_SETS on POSTGRESQL
    "proxy-read-only-endpoint-needs-cluster",  # READ_ONLY endpoint, instance target
    "proxy-pool-headroom",  # max_connections_percent 100
    "alarm-rds-namespace",  # AWS/RDS/Proxy
}


#: Advisory findings on the seed: a risk to watch, not a certain failure (issue 8, section 3).
SEED_ADVISORIES = {
    # work_mem 64 MB x all 200 connections + shared_buffers = 16.5 GiB > 16 GiB; at the design point
    # (20 % of 200 connections busy) 6.5 GiB, so not rds-memory-budget's certain overcommit.
    "rds-memory-worst-case",
}


@pytest.fixture(scope="module")
def seed_run():
    return run_program(SEED, "seed")


def test_seed_is_rejected_by_exactly_the_expected_policies(policy_gate: PolicyGate, seed_run):
    result = policy_gate.check(seed_run, env_config("prod"))
    assert not result.passed
    assert result.fired() == SEED_POLICIES | SEED_ADVISORIES
    assert result.fired("mandatory") == SEED_POLICIES
    by_policy = {}
    for v in result.violations:
        by_policy.setdefault(v.policy, set()).add(v.resource_name)
    assert by_policy["rds-static-parameter-pending-reboot"] == {"main"}
    assert sum(v.policy == "rds-static-parameter-pending-reboot" for v in result.violations) == 2
    assert by_policy["rds-ingress-only-from-proxy"] == {"rds"}
    assert by_policy["alarm-rds-namespace"] == {"proxy_connections"}
    assert by_policy["proxy-read-only-endpoint-needs-cluster"] == {"read_only"}
    # valid in the seed: borrow timeout 120, the ReplicaLag alarm, TLS, encryption, Multi-AZ, backups
    assert not result.fired() & {"proxy-borrow-timeout", "rds-replica-lag-alarm", "proxy-require-tls",
                                 "rds-storage-encrypted", "rds-multi-az", "rds-backups-enabled"}


def test_seed_is_rejected_in_dev_too(policy_gate: PolicyGate, seed_run):
    result = policy_gate.check(seed_run, env_config("dev"))
    assert not result.passed
    assert result.fired("mandatory") == SEED_POLICIES


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_our_stacks_have_no_mandatory_violation(policy_gate: PolicyGate, stack: str):
    run = run_program(ROOT, stack)
    result = policy_gate.check(run, env_config(stack))
    assert result.mandatory == [], result.render()
    assert result.passed
    if stack == "prod":
        assert result.violations == [], result.render()


def test_dev_with_replicas_has_no_mandatory_violation(policy_gate: PolicyGate):
    """The replica group and the app group's egress to it (dev creates the app group) pass the pack too."""
    config = read_stack_config(ROOT, "dev")
    config["resilient-rds:replicas"] = {"count": 2}
    run = run_program(ROOT, "dev", config=config)
    assert [r.name for r in run.by_type("aws:ec2/securityGroup:SecurityGroup") if "replica" in r.name] == [
        "network-replica-security-group"
    ]
    result = policy_gate.check(run, env_config("dev"))
    assert result.mandatory == [], result.render()
    assert not result.fired() & {"rds-ingress-only-from-proxy", "rds-no-cidr-ingress"}


def test_synthetic_setups_are_clean(policy_gate: PolicyGate):
    run = run_program(SEED, "seed", program=synthetic_program(2))
    assert len(run.resources) == 2 * SETUP_RESOURCES
    result = policy_gate.check(run, env_config("prod"))
    assert result.violations == [], result.render()
