"""Availability and durability of RDS instances: Multi-AZ, backups, deletion protection, final snapshot."""

from __future__ import annotations

from pulumi_policy import PolicyConfigSchema, ReportViolation, Severity

from .policy_factory import Config, Props, resource_policy
from .property_values import as_bool, as_number, is_unknown
from .rds_lookups import is_replica
from .resource_types import INSTANCE, label

#: What AWS uses when ``backupRetentionPeriod`` is not set on create.
AWS_DEFAULT_BACKUP_RETENTION_DAYS = 1


def _check_multi_az(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    if is_replica(props):
        return  # replicas scale reads; the primary's standby provides failover
    multi_az = props.get("multiAz")
    if is_unknown(multi_az):
        return
    if not as_bool(multi_az):
        state = "is not set (single-AZ)" if multi_az is None else "is false"
        report(
            f"{label(type_, name)} is a primary whose multiAz {state}. An AZ or host failure then means a restore "
            "or a manual promotion instead of a 60-120 s automatic failover; set multiAz = true.",
            None,
        )


def _check_backups_enabled(
    type_: str, name: str, props: Props, config: Config, report: ReportViolation
) -> None:
    if is_replica(props):
        return
    days = as_number(props.get("backupRetentionPeriod"))
    if days is not None and days == 0:
        report(
            f"{label(type_, name)} has backupRetentionPeriod = 0, which disables automated backups and "
            "point-in-time recovery, and AWS refuses to create read replicas of it; set it to at least 1 "
            "(7 or more in production).",
            None,
        )


def _check_backup_retention(
    type_: str, name: str, props: Props, config: Config, report: ReportViolation
) -> None:
    if is_replica(props):
        return
    raw = props.get("backupRetentionPeriod")
    if is_unknown(raw):
        return
    days = as_number(raw)
    minimum = int(config["minimumDays"])
    effective = AWS_DEFAULT_BACKUP_RETENTION_DAYS if days is None else days
    if effective == 0:
        return  # rds-backups-enabled reports it
    if effective < minimum:
        shown = f"is not set (AWS default {AWS_DEFAULT_BACKUP_RETENTION_DAYS} day)" if days is None else f"is {int(days)}"
        report(
            f"{label(type_, name)} backupRetentionPeriod {shown}, below the required {minimum} days. A problem "
            "noticed later than that (bad migration, deleted rows) cannot be recovered point-in-time; set "
            f"backupRetentionPeriod to {minimum} or more.",
            None,
        )


def _check_deletion_protection(
    type_: str, name: str, props: Props, config: Config, report: ReportViolation
) -> None:
    if is_replica(props):
        return  # a replica is rebuilt from its source
    value = props.get("deletionProtection")
    if is_unknown(value):
        return
    if not as_bool(value):
        report(
            f"{label(type_, name)} has deletionProtection {'unset' if value is None else 'false'}. A replacement "
            "in a `pulumi up` or a stray `pulumi destroy` deletes the database; set deletionProtection = true.",
            None,
        )


def _check_final_snapshot(
    type_: str, name: str, props: Props, config: Config, report: ReportViolation
) -> None:
    if is_replica(props):
        return
    if as_bool(props.get("skipFinalSnapshot")):
        report(
            f"{label(type_, name)} has skipFinalSnapshot = true: deleting or replacing it keeps no copy of the "
            "data. Set skipFinalSnapshot = false and a finalSnapshotIdentifier.",
            None,
        )


RDS_MULTI_AZ = resource_policy(
    "rds-multi-az",
    "Primary RDS instances (not read replicas) run Multi-AZ so a failure fails over automatically.",
    (INSTANCE,),
    _check_multi_az,
    severity=Severity.HIGH,
    remediation="Set multiAz = true on the primary.",
)


RDS_BACKUPS_ENABLED = resource_policy(
    "rds-backups-enabled",
    "Automated backups are not disabled (backupRetentionPeriod 0) on primary RDS instances.",
    (INSTANCE,),
    _check_backups_enabled,
    severity=Severity.HIGH,
    remediation="Set backupRetentionPeriod to 1 or more.",
)


RDS_BACKUP_RETENTION = resource_policy(
    "rds-backup-retention",
    "Primary RDS instances keep automated backups for at least the configured number of days.",
    (INSTANCE,),
    _check_backup_retention,
    severity=Severity.MEDIUM,
    schema=PolicyConfigSchema(
        properties={
            "minimumDays": {
                "type": "integer",
                "minimum": 1,
                "maximum": 35,
                "default": 7,
                "description": "Minimum backupRetentionPeriod in days (RDS allows up to 35).",
            },
        }
    ),
    remediation="Raise backupRetentionPeriod.",
)


RDS_DELETION_PROTECTION = resource_policy(
    "rds-deletion-protection",
    "Primary RDS instances have deletion protection on.",
    (INSTANCE,),
    _check_deletion_protection,
    severity=Severity.MEDIUM,
    remediation="Set deletionProtection = true.",
)


RDS_FINAL_SNAPSHOT = resource_policy(
    "rds-final-snapshot",
    "Primary RDS instances take a final snapshot when deleted.",
    (INSTANCE,),
    _check_final_snapshot,
    severity=Severity.MEDIUM,
    remediation="Set skipFinalSnapshot = false and finalSnapshotIdentifier.",
)
