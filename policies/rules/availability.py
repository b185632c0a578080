"""Availability and durability of RDS instances: Multi-AZ, backups, deletion protection, final snapshot,
replicas that can be created and run, monitoring settings RDS accepts."""

from __future__ import annotations

from pulumi_policy import PolicyConfigSchema, ReportViolation, Severity

from . import instance_limits as limits
from . import rds_facts
from .db_instances import (
    arn_region,
    instance_group,
    parameter_value,
    region_of,
    replication_source,
    uses_external_group,
)
from .policy_factory import Config, Props, resource_policy, stack_policy
from .property_values import as_bool, as_number, as_str, is_unknown
from .rds_lookups import is_replica
from .resource_types import INSTANCE, label
from .stack_index import Res, StackIndex
from .storage_security import effective_encryption

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


# --- rds-backup-retention-range ---------------------------------------------------------------------


def _check_backup_retention_range(
    type_: str, name: str, props: Props, config: Config, report: ReportViolation
) -> None:
    days = as_number(props.get("backupRetentionPeriod"))
    low, high = limits.BACKUP_RETENTION_DAYS_RANGE
    if days is not None and (not low <= days <= high or days != int(days)):
        report(
            f"{label(type_, name)} has backupRetentionPeriod = {days:g}: RDS accepts whole days from {low} to {high} "
            f"and rejects the request, so `pulumi up` fails; keep automated backups for at most {high} days (longer "
            "retention needs AWS Backup or manual snapshots).",
            None,
        )


RDS_BACKUP_RETENTION_RANGE = resource_policy(
    "rds-backup-retention-range",
    "backupRetentionPeriod is a whole number of days from 0 to 35.",
    (INSTANCE,),
    _check_backup_retention_range,
    severity=Severity.HIGH,
    remediation="Set backupRetentionPeriod between 1 and 35.",
)


# --- rds-replica-source -------------------------------------------------------------------------------


def _effective_max_connections(index: StackIndex, instance: Res) -> int | None:
    cls = as_str(instance.props.get("instanceClass"))
    if cls is None or cls not in rds_facts.INSTANCE_MEMORY_GIB or uses_external_group(index, instance):
        return None
    value = parameter_value(instance_group(index, instance), "max_connections")
    if value is None:
        return rds_facts.default_max_connections(cls)
    if is_unknown(value):
        return None
    try:
        return int(rds_facts.evaluate_parameter_value(str(value), cls))
    except rds_facts.FormulaError:
        return None


def _cross_region(index: StackIndex, replica: Res, source: Res | None) -> tuple[str, str] | None:
    """(replica Region, source Region) when the replica runs in another Region than its source.

    Regions come from what the program states (``region`` properties, explicit providers, a literal
    source ARN), the same in every preview shape.  A replica on a provider that names a Region while
    its source uses the stack's default provider counts as cross-Region: a second provider exists
    to reach another Region."""
    replica_region = region_of(replica)
    source_region = region_of(source) if source is not None else None
    if source_region is None:
        source_region = arn_region(replica.props.get("replicateSourceDb"))
    if replica_region is None:
        return None
    if source_region is None:
        return (replica_region, "the stack's default Region") if source is not None else None
    return (replica_region, source_region) if replica_region != source_region else None


def _check_replica_source(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for replica in index.of_type(INSTANCE):
        if not is_replica(replica.props):
            continue
        source = replication_source(index, replica)
        if source is not None and as_number(source.props.get("backupRetentionPeriod")) == 0:
            report(
                f"{replica.label} replicates {source.label}, which has backupRetentionPeriod = 0: RDS refuses to "
                "create a read replica of an instance without automated backups, so `pulumi up` fails; set the "
                "source's backupRetentionPeriod to 1 or more.",
                replica.urn,
            )
        regions = _cross_region(index, replica, source)
        kms = replica.props.get("kmsKeyId")
        if (
            regions is not None
            and source is not None
            and effective_encryption(index, source) is True
            and not is_unknown(kms)
            and not kms
        ):
            report(
                f"{replica.label} is a cross-Region replica ({regions[0]}, source in {regions[1]}) of the encrypted "
                f"{source.label} without kmsKeyId: KMS keys are regional, so RDS cannot create it and `pulumi up` "
                f"fails; set kmsKeyId to a key of {regions[0]}.",
                replica.urn,
            )
        if source is not None:
            replica_max = _effective_max_connections(index, replica)
            source_max = _effective_max_connections(index, source)
            if replica_max is not None and source_max is not None and replica_max < source_max:
                report(
                    f"{replica.label} gets max_connections {replica_max}, below its source {source.label}'s "
                    f"{source_max}: a PostgreSQL hot standby refuses to run with a lower max_connections than its "
                    "primary, so the replica stops replicating. Give it a class with as much memory or a parameter "
                    "group with the same max_connections.",
                    replica.urn,
                )


RDS_REPLICA_SOURCE = stack_policy(
    "rds-replica-source",
    "Read replicas can be created and can run: the source keeps backups, a cross-Region replica of an encrypted "
    "source names a key of its Region, max_connections is not below the source's.",
    (INSTANCE,),
    _check_replica_source,
    severity=Severity.HIGH,
    remediation="Enable backups on the source, set kmsKeyId on cross-Region replicas, match max_connections.",
)


# --- rds-monitoring-settings ---------------------------------------------------------------------------


def _check_monitoring_settings(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    interval = as_number(props.get("monitoringInterval"))
    allowed = ", ".join(str(v) for v in sorted(limits.MONITORING_INTERVALS_S))
    if interval is not None and interval not in limits.MONITORING_INTERVALS_S:
        report(
            f"{label(type_, name)} has monitoringInterval = {interval:g}: RDS accepts only {allowed} seconds and "
            "rejects the request, so `pulumi up` fails; pick one of those values (0 turns Enhanced Monitoring off).",
            None,
        )
    role = props.get("monitoringRoleArn")
    if interval and not is_unknown(role) and not role:
        report(
            f"{label(type_, name)} has monitoringInterval = {interval:g} without monitoringRoleArn: RDS requires a role "
            "it can assume to publish Enhanced Monitoring, so `pulumi up` fails; set monitoringRoleArn to a role "
            "trusted by monitoring.rds.amazonaws.com with AmazonRDSEnhancedMonitoringRole.",
            None,
        )
    retention = as_number(props.get("performanceInsightsRetentionPeriod"))
    if retention is not None and (retention != int(retention) or not limits.valid_performance_insights_retention(int(retention))):
        report(
            f"{label(type_, name)} has performanceInsightsRetentionPeriod = {retention:g}: RDS accepts 7, 731 or a "
            "whole number of months x 31 (31..713) and rejects the request, so `pulumi up` fails; use 7 or 31 x months.",
            None,
        )


RDS_MONITORING_SETTINGS = resource_policy(
    "rds-monitoring-settings",
    "Enhanced Monitoring interval and role, and Performance Insights retention, use values RDS accepts.",
    (INSTANCE,),
    _check_monitoring_settings,
    severity=Severity.MEDIUM,
    remediation="monitoringInterval in 0/1/5/10/15/30/60 with a monitoringRoleArn; PI retention 7 or 31 x months.",
)
