"""Read replicas of the primary: the read path.

RDS Proxy cannot target a read replica of an RDS *instance* and READ_ONLY proxy
endpoints exist only for Aurora and Multi-AZ DB clusters, so readers connect to
the replica endpoints directly; they are exported as such.  That is why replicas
take their own security group (the app tier may reach it; see network.py) and
IAM database authentication: a client signs its token for the replica's host, and
``rds-db:connect`` names the replica's resource id (``db-...``, exported here for
access.py), not the proxy's.

Replicas get their own parameter group (the primary's changes must not reboot
them by surprise) with the same ``max_connections`` as the primary when it is
raised: a PostgreSQL hot standby refuses to start with fewer than its primary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

from components.database import LOG_EXPORTS, DatabaseParameter


@dataclass(frozen=True)
class ReplicaArgs:
    prefix: str
    count: int
    instance_class: str
    #: Identifier of the primary (same region, so the identifier suffices).
    source_identifier: pulumi.Input[str]
    parameter_group_family: str
    parameters: Sequence[DatabaseParameter]
    #: The replica group from network.py, never the primary's database group (that one admits the proxy only).
    security_group_ids: Sequence[pulumi.Input[str]]
    monitoring_role_arn: pulumi.Input[str]
    monitoring_interval_s: int
    kms_key_arn: pulumi.Input[str]
    performance_insights_enabled: bool
    performance_insights_retention_days: int
    deletion_protection: bool
    maintenance_window: str
    tags: dict[str, str] = field(default_factory=dict)


class Replica(pulumi.ComponentResource):
    instances: list[aws.rds.Instance]
    identifiers: pulumi.Output[list[str]]
    addresses: pulumi.Output[list[str]]
    #: DbiResourceIds (``db-...``): the resource part of ``rds-db:connect`` ARNs for direct IAM auth.
    resource_ids: pulumi.Output[list[str]]
    arns: pulumi.Output[list[str]]

    def __init__(self, name: str, args: ReplicaArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("resilient-rds:replica:Replica", name, None, opts)
        child = ResourceOptions(parent=self)
        self.instances = []
        if args.count > 0:
            parameter_group = aws.rds.ParameterGroup(
                f"{name}-parameter-group",
                name_prefix=f"{args.prefix}-replica-{args.parameter_group_family}-",  # replaceable, see database.py
                family=args.parameter_group_family,
                description=f"{args.prefix}: read replica parameters",
                parameters=[
                    *(p.to_args() for p in args.parameters),
                    # Let a long report query on the replica wait up to 30 s for WAL replay
                    # before it is cancelled, instead of the replica lagging without bound.
                    DatabaseParameter("max_standby_streaming_delay", "30000").to_args(),
                ],
                tags={**args.tags, "Name": f"{args.prefix}-replica"},
                opts=child,
            )
            for index in range(args.count):
                identifier = f"{args.prefix}-db-replica-{index + 1}"
                self.instances.append(
                    aws.rds.Instance(
                        f"{name}-{index + 1}",
                        identifier=identifier,
                        replicate_source_db=args.source_identifier,
                        instance_class=args.instance_class,
                        # Same-region replicas are always encrypted with the source's key; RDS
                        # rejects an explicit kms_key_id here, so only the flag is stated.
                        storage_encrypted=True,
                        storage_type="gp3",
                        multi_az=False,
                        publicly_accessible=False,
                        vpc_security_group_ids=list(args.security_group_ids),
                        parameter_group_name=parameter_group.name,
                        # Stated, not left to CreateDBInstanceReadReplica's default: readers connect
                        # here directly with IAM tokens, the proxy is not in their path.
                        iam_database_authentication_enabled=True,
                        copy_tags_to_snapshot=True,
                        deletion_protection=args.deletion_protection,
                        # A replica has no final snapshot of its own; the primary's backups cover it.
                        skip_final_snapshot=True,
                        backup_retention_period=0,
                        maintenance_window=args.maintenance_window,
                        auto_minor_version_upgrade=True,
                        performance_insights_enabled=args.performance_insights_enabled,
                        performance_insights_kms_key_id=args.kms_key_arn if args.performance_insights_enabled else None,
                        performance_insights_retention_period=(
                            args.performance_insights_retention_days if args.performance_insights_enabled else None
                        ),
                        monitoring_interval=args.monitoring_interval_s,
                        monitoring_role_arn=args.monitoring_role_arn,
                        enabled_cloudwatch_logs_exports=LOG_EXPORTS,
                        tags={**args.tags, "Name": identifier, "Role": "read-replica"},
                        opts=child,
                    )
                )
        self.identifiers = pulumi.Output.all(*[r.identifier for r in self.instances])
        self.addresses = pulumi.Output.all(*[r.address for r in self.instances])
        self.resource_ids = pulumi.Output.all(*[r.resource_id for r in self.instances])
        self.arns = pulumi.Output.all(*[r.arn for r in self.instances])
        self.register_outputs(
            {
                "identifiers": self.identifiers,
                "addresses": self.addresses,
                "resourceIds": self.resource_ids,
                "arns": self.arns,
            }
        )
