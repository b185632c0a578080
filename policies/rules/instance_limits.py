"""Limits RDS enforces on an RDS for PostgreSQL instance's settings, as data and pure functions.

No Pulumi, no policy objects: the rules in ``storage_security.py`` and ``availability.py`` call these,
and the tests check them over exhaustive value tables.

Sources (see ``policies/COVERAGE.md`` for the rows):

* CreateDBInstance, https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html:
  AllocatedStorage per storage type for PostgreSQL, Iops "a multiple between .5 and 50 of the storage
  amount" (io1), BackupRetentionPeriod 0-35, MonitoringInterval 0/1/5/10/15/30/60 with a role when > 0,
  PerformanceInsightsRetentionPeriod 7, month x 31 (1-23) or 731.
* Amazon RDS DB instance storage, https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Storage.html:
  gp3 for PostgreSQL below 400 GiB has a fixed baseline (3,000 IOPS / 125 MiBps) that cannot be set;
  from 400 GiB 12,000-64,000 IOPS and 500-4,000 MiBps; io2 IOPS:GiB up to 1,000.
* ValidStorageOptions, https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ValidStorageOptions.html:
  throughput / IOPS at most 0.25, provisioned IOPS 1,000-256,000.
* Storage autoscaling, https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIOPS.Autoscaling.html:
  the maximum storage threshold must be at least 10 % above the allocated storage.
* Certificate authorities, https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html and
  UsingWithRDS.SSL-certificate-rotation.html: rds-ca-rsa2048-g1, rds-ca-rsa4096-g1, rds-ca-ecc384-g1;
  rds-ca-2019 expired on 2024-08-22 (rds-ca-2015 on 2020-03-05).
* pulumi-aws ``rds.Instance``: ``storage_type`` defaults to "io1" when ``iops`` is set, else "gp2";
  ``max_allocated_storage`` 0 turns autoscaling off.
"""

from __future__ import annotations

import math

#: Allocated storage range in GiB per storage type, RDS for PostgreSQL.
ALLOCATED_STORAGE_GIB: dict[str, tuple[int, int]] = {
    "gp2": (20, 65536),
    "gp3": (20, 65536),
    "io1": (100, 65536),
    "io2": (100, 65536),
    "standard": (5, 3072),
}
#: gp3 for PostgreSQL: from this size on, IOPS and throughput can be provisioned (below, fixed baseline).
GP3_PROVISIONING_THRESHOLD_GIB = 400
GP3_IOPS_RANGE = (12_000, 64_000)
GP3_THROUGHPUT_MIBPS_RANGE = (500, 4_000)
#: Largest storage throughput (MiBps) per provisioned IOPS.
MAX_THROUGHPUT_PER_IOPS = 0.25
PROVISIONED_IOPS_RANGE = (1_000, 256_000)
#: IOPS per GiB of allocated storage.
IOPS_PER_GIB_RANGE: dict[str, tuple[float, float]] = {"io1": (0.5, 50.0), "io2": (0.5, 1000.0)}
#: maxAllocatedStorage must be at least allocatedStorage plus this percentage.
MIN_AUTOSCALING_HEADROOM_PERCENT = 10

#: CA certificate identifiers RDS issues server certificates from.
CA_CERTIFICATES = frozenset({"rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1"})
#: Retired CAs and the date their certificate expired.
RETIRED_CA_CERTIFICATES = {"rds-ca-2019": "2024-08-22", "rds-ca-2015": "2020-03-05"}

BACKUP_RETENTION_DAYS_RANGE = (0, 35)
MONITORING_INTERVALS_S = frozenset({0, 1, 5, 10, 15, 30, 60})


def effective_storage_type(storage_type: str | None, iops_set: bool) -> str:
    """The storage type RDS uses: as given, else "io1" when IOPS are set, else "gp2" (pulumi-aws)."""
    if storage_type:
        return storage_type.lower()
    return "io1" if iops_set else "gp2"


def storage_problems(
    storage_type: str,
    allocated_gib: float | None,
    *,
    iops: float | None = None,
    throughput_mibps: float | None = None,
    max_allocated_gib: float | None = None,
) -> list[str]:
    """What RDS rejects about this storage configuration, one sentence each (empty: accepted).

    ``None`` means not set (or not known); values that are not set are not judged.
    """
    problems: list[str] = []
    limits = ALLOCATED_STORAGE_GIB.get(storage_type)
    if limits is None:
        allowed = ", ".join(sorted(ALLOCATED_STORAGE_GIB))
        return [f"storageType {storage_type!r} is not one RDS offers ({allowed})"]
    low, high = limits
    if allocated_gib is not None and not low <= allocated_gib <= high:
        problems.append(f"allocatedStorage {allocated_gib:g} GiB is outside {low}-{high} GiB for {storage_type}")
    if iops is not None:
        problems.extend(_iops_problems(storage_type, allocated_gib, iops))
    if throughput_mibps is not None:
        problems.extend(_throughput_problems(storage_type, allocated_gib, throughput_mibps, iops))
    if max_allocated_gib is not None and max_allocated_gib != 0 and allocated_gib is not None:
        needed = math.ceil(allocated_gib * (100 + MIN_AUTOSCALING_HEADROOM_PERCENT) / 100)
        if max_allocated_gib < needed:
            problems.append(
                f"maxAllocatedStorage {max_allocated_gib:g} GiB is not at least 10 % above allocatedStorage "
                f"{allocated_gib:g} GiB (at least {needed} GiB, or 0 to turn autoscaling off)"
            )
        elif max_allocated_gib > high:
            problems.append(f"maxAllocatedStorage {max_allocated_gib:g} GiB is above the {high} GiB {storage_type} limit")
    return problems


def _iops_problems(storage_type: str, allocated_gib: float | None, iops: float) -> list[str]:
    if storage_type in ("gp2", "standard"):
        return [f"iops cannot be set on {storage_type} storage (only io1, io2 and gp3 from 400 GiB)"]
    if storage_type == "gp3":
        if allocated_gib is not None and allocated_gib < GP3_PROVISIONING_THRESHOLD_GIB:
            return [
                f"iops cannot be set on gp3 below {GP3_PROVISIONING_THRESHOLD_GIB} GiB (allocatedStorage "
                f"{allocated_gib:g} GiB has a fixed 3,000 IOPS baseline)"
            ]
        low, high = GP3_IOPS_RANGE
        if not low <= iops <= high:
            return [f"iops {iops:g} is outside {low}-{high} for gp3 from {GP3_PROVISIONING_THRESHOLD_GIB} GiB"]
        return []
    low, high = PROVISIONED_IOPS_RANGE
    if not low <= iops <= high:
        return [f"iops {iops:g} is outside {low}-{high} for {storage_type}"]
    ratio_low, ratio_high = IOPS_PER_GIB_RANGE[storage_type]
    if allocated_gib and not ratio_low <= iops / allocated_gib <= ratio_high:
        return [
            f"iops {iops:g} on {allocated_gib:g} GiB is {iops / allocated_gib:g} IOPS per GiB, outside "
            f"{ratio_low:g}-{ratio_high:g} for {storage_type}"
        ]
    return []


def _throughput_problems(
    storage_type: str, allocated_gib: float | None, throughput: float, iops: float | None
) -> list[str]:
    if storage_type != "gp3":
        return [f"storageThroughput can only be set on gp3 storage, not {storage_type}"]
    if allocated_gib is not None and allocated_gib < GP3_PROVISIONING_THRESHOLD_GIB:
        return [
            f"storageThroughput cannot be set on gp3 below {GP3_PROVISIONING_THRESHOLD_GIB} GiB (allocatedStorage "
            f"{allocated_gib:g} GiB has a fixed 125 MiBps baseline)"
        ]
    low, high = GP3_THROUGHPUT_MIBPS_RANGE
    if not low <= throughput <= high:
        return [f"storageThroughput {throughput:g} MiBps is outside {low}-{high} for gp3"]
    effective_iops = iops if iops is not None else GP3_IOPS_RANGE[0]
    if throughput / effective_iops > MAX_THROUGHPUT_PER_IOPS:
        return [
            f"storageThroughput {throughput:g} MiBps with {effective_iops:g} IOPS exceeds "
            f"{MAX_THROUGHPUT_PER_IOPS} MiBps per IOPS"
        ]
    return []


def ca_certificate_problem(identifier: str) -> str | None:
    """Why RDS (or every verifying client) rejects *identifier*, or None when it is a current CA."""
    if identifier in CA_CERTIFICATES:
        return None
    if identifier in RETIRED_CA_CERTIFICATES:
        return f"{identifier} expired on {RETIRED_CA_CERTIFICATES[identifier]}"
    return f"{identifier!r} is not an RDS certificate authority ({', '.join(sorted(CA_CERTIFICATES))})"


def valid_performance_insights_retention(days: int) -> bool:
    """7 (free tier), 731, or a whole number of 31-day months from 1 to 23."""
    return days in (7, 731) or (days % 31 == 0 and 1 <= days // 31 <= 23)
