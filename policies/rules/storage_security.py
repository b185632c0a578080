"""Storage of RDS instances: encryption at rest (judged at its effective value), storage limits, TLS certificate authority.

Effective encryption: ``storageEncrypted`` defaults to false; a read replica has its source's
encryption, and an instance restored from a snapshot or to a point in time has the encryption of
the snapshot or of the source instance (RestoreDBInstanceFromDBSnapshot / ...ToPointInTime).
Limits come from :mod:`.instance_limits`.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, Severity

from . import instance_limits as limits
from .db_instances import MAX_REPLICATION_DEPTH, replication_source
from .policy_factory import Config, Props, resource_policy, stack_policy
from .property_values import as_bool, as_number, as_str, is_unknown
from .rds_lookups import is_replica
from .resource_types import INSTANCE, label
from .stack_index import Res, StackIndex

SNAPSHOT = "aws:rds/snapshot:Snapshot"
SNAPSHOT_COPY = "aws:rds/snapshotCopy:SnapshotCopy"


# --- rds-storage-encrypted --------------------------------------------------------------------------


def _is_set(value: Any) -> bool:
    """A reference property that is set: a non-empty known value, or an unknown (computed) one."""
    return is_unknown(value) or (value is not None and value != "")


def _snapshot_encryption(index: StackIndex, instance: Res, depth: int) -> tuple[bool | None, Res | None]:
    """(encrypted, snapshot resource) for an instance restored from a snapshot of the stack."""
    ref = instance.props.get("snapshotIdentifier")
    snapshot = index.resolve(instance, "snapshotIdentifier", SNAPSHOT, ref, ("dbSnapshotIdentifier", "dbSnapshotArn", "id"))
    if snapshot is not None:
        encrypted = as_bool(snapshot.props.get("encrypted"))
        if encrypted is not None:
            return encrypted, snapshot
        source_ref = snapshot.props.get("dbInstanceIdentifier")
        source = index.resolve(snapshot, "dbInstanceIdentifier", INSTANCE, source_ref, ("identifier", "id"))
        return (effective_encryption(index, source, depth - 1) if source is not None else None), snapshot
    copy = index.resolve(
        instance, "snapshotIdentifier", SNAPSHOT_COPY, ref, ("targetDbSnapshotIdentifier", "dbSnapshotArn", "id")
    )
    if copy is not None:
        if _is_set(copy.props.get("kmsKeyId")):
            return True, copy
        return as_bool(copy.props.get("encrypted")), copy
    return None, None


def effective_encryption(index: StackIndex, instance: Res, depth: int = MAX_REPLICATION_DEPTH) -> bool | None:
    """True/False: the instance's storage is encrypted; None: the stack cannot tell."""
    if depth <= 0:
        return None
    props = instance.props
    explicit = instance.props.get("storageEncrypted")
    if is_replica(props):
        source = replication_source(index, instance)
        return effective_encryption(index, source, depth - 1) if source is not None else None
    if is_unknown(explicit):
        return None
    if _is_set(props.get("snapshotIdentifier")):
        if as_bool(explicit) or _is_set(instance.props.get("kmsKeyId")):
            return True
        return _snapshot_encryption(index, instance, depth)[0]
    pitr = props.get("restoreToPointInTime")
    if isinstance(pitr, dict) or is_unknown(pitr):
        if as_bool(explicit) or _is_set(instance.props.get("kmsKeyId")):
            return True
        source = _pitr_source(index, instance)
        return effective_encryption(index, source, depth - 1) if source is not None else None
    return bool(as_bool(explicit))


def _pitr_source(index: StackIndex, instance: Res) -> Res | None:
    pitr = instance.props.get("restoreToPointInTime")
    value = pitr.get("sourceDbInstanceIdentifier") if isinstance(pitr, dict) else None
    return index.resolve(instance, "restoreToPointInTime", INSTANCE, value, ("identifier", "id"))


def _check_encrypted(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for inst in index.of_type(INSTANCE):
        if is_replica(inst.props):
            continue  # a replica has its source's encryption: the source is judged
        if effective_encryption(index, inst) is not False:
            continue
        props = inst.props
        if _is_set(props.get("snapshotIdentifier")):
            _, snapshot = _snapshot_encryption(index, inst, MAX_REPLICATION_DEPTH)
            origin = snapshot.label if snapshot is not None else "its snapshot"
            report(
                f"{inst.label} is restored from {origin}, which is not encrypted, so the new instance's data, backups "
                "and replicas are stored unencrypted. Restore from an encrypted copy (aws.rds.SnapshotCopy with "
                "kmsKeyId) or set storageEncrypted = true with a kmsKeyId.",
                inst.urn,
            )
            continue
        if isinstance(props.get("restoreToPointInTime"), dict):
            source = _pitr_source(index, inst)
            report(
                f"{inst.label} is restored to a point in time of {source.label if source else 'an instance'}, which "
                "is not encrypted, so the restored data is stored unencrypted. Encrypt the source (snapshot copy "
                "with a KMS key and restore), or set storageEncrypted = true with a kmsKeyId.",
                inst.urn,
            )
            continue
        value = inst.props.get("storageEncrypted")
        report(
            f"{inst.label} has storageEncrypted {'unset (false)' if value is None else 'false'}: data, "
            "snapshots, backups and replicas are stored unencrypted, and encryption cannot be turned on later "
            "without a snapshot-restore migration. Set storageEncrypted = true (with a KMS key you control).",
            inst.urn,
        )


RDS_STORAGE_ENCRYPTED = stack_policy(
    "rds-storage-encrypted",
    "RDS instances encrypt their storage (omitted = false; restores and replicas take their source's encryption).",
    (INSTANCE,),
    _check_encrypted,
    severity=Severity.HIGH,
    remediation="Set storageEncrypted = true, or restore from an encrypted snapshot.",
)


# --- rds-storage-limits -------------------------------------------------------------------------------


def _provisioned(value: Any) -> float | None:
    """A provisioned IOPS / throughput value, None when not set, unknown or 0 (the provider's "not set")."""
    number = as_number(value)
    return number if number else None


def _check_storage_limits(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    # A resource policy sees the program's (checked) inputs in every shape, never the refreshed state, in
    # which AWS reports a gp3 volume's baseline IOPS: an iops value here is one the program asks for.
    engine = props.get("engine")
    if isinstance(engine, str) and engine.lower() != "postgres":
        return  # the limits carried are RDS for PostgreSQL's (other engines differ, Aurora has no such storage)
    raw_type = props.get("storageType")
    if is_unknown(raw_type):
        return
    iops = _provisioned(props.get("iops"))
    throughput = _provisioned(props.get("storageThroughput"))
    # A replica's allocatedStorage is ignored on create (it copies its source's).
    allocated = None if is_replica(props) else as_number(props.get("allocatedStorage"))
    max_allocated = as_number(props.get("maxAllocatedStorage"))
    storage_type = limits.effective_storage_type(as_str(raw_type), iops is not None)
    problems = limits.storage_problems(
        storage_type, allocated, iops=iops, throughput_mibps=throughput, max_allocated_gib=max_allocated
    )
    shown = storage_type if raw_type else f"{storage_type} (storageType not set)"
    for problem in problems:
        report(
            f"{label(type_, name)} ({shown}): {problem}. RDS rejects the request, so `pulumi up` fails; use values "
            "within the RDS for PostgreSQL limits for the storage type.",
            None,
        )


RDS_STORAGE_LIMITS = resource_policy(
    "rds-storage-limits",
    "Allocated storage, IOPS, throughput and the autoscaling maximum are within RDS's limits for the storage type.",
    (INSTANCE,),
    _check_storage_limits,
    severity=Severity.HIGH,
    remediation="Keep allocatedStorage, iops, storageThroughput and maxAllocatedStorage within the storage type's limits.",
)


# --- rds-ca-certificate ---------------------------------------------------------------------------------


def _check_ca_certificate(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    identifier = props.get("caCertIdentifier")
    if not isinstance(identifier, str) or not identifier:
        return  # omitted: the Region's default CA (rds-ca-rsa2048-g1)
    problem = limits.ca_certificate_problem(identifier)
    if problem is not None:
        report(
            f"{label(type_, name)} sets caCertIdentifier = {identifier!r}: {problem}. RDS refuses an unknown CA and "
            "clients that verify the server (sslmode=verify-full) cannot trust an expired one; use "
            "rds-ca-rsa2048-g1 (or rds-ca-rsa4096-g1 / rds-ca-ecc384-g1) and ship the matching bundle to clients.",
            None,
        )


RDS_CA_CERTIFICATE = resource_policy(
    "rds-ca-certificate",
    "caCertIdentifier names a current RDS certificate authority (not rds-ca-2019 or another retired one).",
    (INSTANCE,),
    _check_ca_certificate,
    severity=Severity.HIGH,
    remediation="Set caCertIdentifier = rds-ca-rsa2048-g1, or leave it out.",
)
