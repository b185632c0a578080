"""Data at rest: storage encryption of RDS instances."""

from __future__ import annotations

from pulumi_policy import ReportViolation, Severity

from .policy_factory import Config, Props, resource_policy
from .property_values import as_bool, is_unknown
from .rds_lookups import is_replica
from .resource_types import INSTANCE, label


def _check_encrypted(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    value = props.get("storageEncrypted")
    if is_unknown(value):
        return
    if is_replica(props) and value is None:
        return  # a replica inherits encryption from its source
    if not as_bool(value):
        report(
            f"{label(type_, name)} has storageEncrypted {'unset (false)' if value is None else 'false'}: data, "
            "snapshots, backups and replicas are stored unencrypted, and encryption cannot be turned on later "
            "without a snapshot-restore migration. Set storageEncrypted = true (with a KMS key you control).",
            None,
        )


RDS_STORAGE_ENCRYPTED = resource_policy(
    "rds-storage-encrypted",
    "RDS instances encrypt their storage.",
    (INSTANCE,),
    _check_encrypted,
    severity=Severity.HIGH,
    remediation="Set storageEncrypted = true.",
)
