"""policies/rules/instance_limits.py: the limits RDS enforces, over exhaustive value tables (no gRPC)."""

from __future__ import annotations

import pytest

from policies.rules import instance_limits as limits

ACCEPTED_STORAGE = [
    # (type, allocated, iops, throughput, max_allocated)
    ("gp2", 20, None, None, None),
    ("gp2", 65536, None, None, 0),
    ("gp3", 20, None, None, None),
    ("gp3", 100, None, None, 110),  # exactly 10 % above
    ("gp3", 399, None, None, 1000),
    ("gp3", 400, 12000, 500, None),
    ("gp3", 400, 64000, 4000, None),
    ("gp3", 1000, 16000, 4000, None),
    ("gp3", 500, None, 1000, None),  # 12,000 IOPS baseline: 1000 / 12000 < 0.25
    ("io1", 100, 1000, None, None),
    ("io1", 100, 5000, None, None),  # 50 per GiB
    ("io1", 4000, 2000, None, None),  # 0.5 per GiB
    ("io2", 100, 100000, None, None),  # 1000 per GiB
    ("io2", 65536, 256000, None, None),
    ("standard", 5, None, None, None),
    ("standard", 3072, None, None, None),
]

REJECTED_STORAGE = [
    ("gp2", 19, None, None, None, "outside 20-65536"),
    ("gp3", 65537, None, None, None, "outside 20-65536"),
    ("io1", 99, 1000, None, None, "outside 100-65536"),
    ("io2", 50, 1000, None, None, "outside 100-65536"),
    ("standard", 4, None, None, None, "outside 5-3072"),
    ("standard", 4000, None, None, None, "outside 5-3072"),
    ("gp2", 100, 3000, None, None, "iops cannot be set on gp2"),
    ("standard", 100, 1000, None, None, "iops cannot be set on standard"),
    ("gp3", 100, 3000, None, None, "below 400 GiB"),
    ("gp3", 100, None, 125, None, "below 400 GiB"),
    ("gp3", 400, 11000, None, None, "outside 12000-64000"),
    ("gp3", 400, 70000, None, None, "outside 12000-64000"),
    ("gp3", 400, 12000, 4000, None, "MiBps per IOPS"),
    ("gp3", 400, None, 400, None, "outside 500-4000"),
    ("io1", 100, 999, None, None, "outside 1000-256000"),
    ("io1", 100, 6000, None, None, "IOPS per GiB"),
    ("io1", 10000, 3000, None, None, "IOPS per GiB"),
    ("io2", 100, 300000, None, None, "outside 1000-256000"),
    ("io1", 100, 1000, 500, None, "only be set on gp3"),
    ("gp3", 100, None, None, 105, "at least 10 % above"),
    ("gp3", 100, None, None, 100, "at least 10 % above"),
    ("gp3", 100, None, None, 50, "at least 10 % above"),
    ("standard", 100, None, None, 5000, "above the 3072 GiB"),
    ("sc1", 100, None, None, None, "not one RDS offers"),
]


@pytest.mark.parametrize(("storage_type", "allocated", "iops", "throughput", "max_allocated"), ACCEPTED_STORAGE)
def test_storage_rds_accepts(storage_type, allocated, iops, throughput, max_allocated):
    assert limits.storage_problems(
        storage_type, allocated, iops=iops, throughput_mibps=throughput, max_allocated_gib=max_allocated
    ) == []


@pytest.mark.parametrize(("storage_type", "allocated", "iops", "throughput", "max_allocated", "reason"), REJECTED_STORAGE)
def test_storage_rds_rejects(storage_type, allocated, iops, throughput, max_allocated, reason):
    problems = limits.storage_problems(
        storage_type, allocated, iops=iops, throughput_mibps=throughput, max_allocated_gib=max_allocated
    )
    assert len(problems) == 1
    assert reason in problems[0]


def test_unset_values_are_not_judged():
    assert limits.storage_problems("gp3", None, iops=None, throughput_mibps=None, max_allocated_gib=500) == []
    assert limits.storage_problems("io1", None, iops=5000) == []  # ratio needs the size


def test_the_provider_default_storage_type():
    assert limits.effective_storage_type(None, iops_set=False) == "gp2"
    assert limits.effective_storage_type(None, iops_set=True) == "io1"
    assert limits.effective_storage_type("GP3", iops_set=True) == "gp3"


@pytest.mark.parametrize("identifier", ["rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1"])
def test_current_ca_certificates(identifier):
    assert limits.ca_certificate_problem(identifier) is None


@pytest.mark.parametrize(("identifier", "reason"), [
    ("rds-ca-2019", "expired on 2024-08-22"),
    ("rds-ca-2015", "expired on 2020-03-05"),
    ("rds-ca-rsa2048-g2", "not an RDS certificate authority"),
    ("rds-ca-rds2048-g1", "not an RDS certificate authority"),  # the CDK's old misspelling
])
def test_retired_or_unknown_ca_certificates(identifier, reason):
    problem = limits.ca_certificate_problem(identifier)
    assert problem is not None and reason in problem


def test_performance_insights_retention_values():
    accepted = {d for d in range(0, 800) if limits.valid_performance_insights_retention(d)}
    assert accepted == {7, 731} | {31 * m for m in range(1, 24)}
