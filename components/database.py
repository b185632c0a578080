"""Database: the Multi-AZ RDS for PostgreSQL primary, its KMS key, subnet group,
parameter group and enhanced-monitoring role.

Parameter choices (see design.md for why the seed's values were wrong):

* ``max_connections`` is set only when the config raises it above the RDS default
  for the class (``LEAST({DBInstanceClassMemory/9531392}, 5000)``, see sizing.py):
  the seed's "200" on db.r6g.large *lowered* ~1,800 to 200.
* ``shared_buffers`` is left at the RDS default (a quarter of memory).
* Static parameters take effect only after a reboot, so they are declared with
  apply method ``pending-reboot`` (RDS rejects ``immediate`` for them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

from components.credentials import account_root_key_policy

#: Parameters PostgreSQL reads only at server start; RDS applies them with ``pending-reboot`` only.
STATIC_PARAMETERS = frozenset(
    {
        "max_connections",
        "shared_buffers",
        "max_worker_processes",
        "max_wal_senders",
        "max_replication_slots",
        "max_prepared_transactions",
        "max_locks_per_transaction",
        "shared_preload_libraries",
        "track_activity_query_size",
        "wal_buffers",
        "huge_pages",
    }
)

ENHANCED_MONITORING_POLICY = "service-role/AmazonRDSEnhancedMonitoringRole"
LOG_EXPORTS = ["postgresql", "upgrade"]


@dataclass(frozen=True)
class DatabaseParameter:
    name: str
    value: str

    @property
    def apply_method(self) -> str:
        return "pending-reboot" if self.name in STATIC_PARAMETERS else "immediate"

    def to_args(self) -> aws.rds.ParameterGroupParameterArgs:
        return aws.rds.ParameterGroupParameterArgs(name=self.name, value=self.value, apply_method=self.apply_method)


def database_parameters(
    *,
    max_connections: int | None,
    work_mem_kb: int | None,
    idle_in_transaction_session_timeout_ms: int,
) -> list[DatabaseParameter]:
    """The parameter-group entries shared by the primary and its replicas."""
    parameters = [
        # Server-side keepalives let PostgreSQL notice clients that vanished (a Lambda frozen or
        # killed mid-transaction) and free their backends and locks.  They do NOT make clients
        # notice a failover faster: that is the client's keepalives / tcp_user_timeout (dbclient/).
        DatabaseParameter("tcp_keepalives_idle", "60"),
        DatabaseParameter("tcp_keepalives_interval", "10"),
        DatabaseParameter("tcp_keepalives_count", "3"),
        # A session that opened a transaction and went away holds locks and a proxy connection
        # (pinned); end it instead of letting it block vacuum and the pool.
        DatabaseParameter("idle_in_transaction_session_timeout", str(idle_in_transaction_session_timeout_ms)),
        DatabaseParameter("log_min_duration_statement", "1000"),
    ]
    if max_connections is not None:
        parameters.append(DatabaseParameter("max_connections", str(max_connections)))
    if work_mem_kb is not None:
        parameters.append(DatabaseParameter("work_mem", str(work_mem_kb)))
    return parameters


@dataclass(frozen=True)
class DatabaseArgs:
    prefix: str
    engine: str
    engine_version: str
    parameter_group_family: str
    instance_class: str
    allocated_storage_gib: int
    max_allocated_storage_gib: int
    storage_type: str
    multi_az: bool
    db_name: str
    port: int
    username: str
    password: pulumi.Output[str]
    subnet_ids: pulumi.Input[Sequence[str]]
    security_group_ids: Sequence[pulumi.Input[str]]
    parameters: Sequence[DatabaseParameter]
    backup_retention_days: int
    backup_window: str
    maintenance_window: str
    deletion_protection: bool
    skip_final_snapshot: bool
    performance_insights_enabled: bool
    performance_insights_retention_days: int
    monitoring_interval_s: int
    tags: dict[str, str] = field(default_factory=dict)


class Database(pulumi.ComponentResource):
    instance: aws.rds.Instance
    identifier: pulumi.Output[str]
    arn: pulumi.Output[str]
    address: pulumi.Output[str]
    port: pulumi.Output[int]
    kms_key_arn: pulumi.Output[str]
    monitoring_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("resilient-rds:database:Database", name, None, opts)
        child = ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)

        def tags(resource_name: str) -> dict[str, str]:
            return {**args.tags, "Name": resource_name}

        key = aws.kms.Key(
            f"{name}-kms-key",
            description=f"{args.prefix}: encrypts database storage, snapshots and Performance Insights",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(identity.account_id, partition.partition).apply(
                lambda v: account_root_key_policy(v[0], v[1], [])
            ),
            tags=tags(f"{args.prefix}-database"),
            opts=child,
        )
        aws.kms.Alias(f"{name}-kms-alias", name=f"alias/{args.prefix}-database", target_key_id=key.key_id, opts=child)

        subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnet-group",
            name=f"{args.prefix}-db",
            description=f"{args.prefix}: private subnets in at least two availability zones",
            subnet_ids=args.subnet_ids,
            tags=tags(f"{args.prefix}-db"),
            opts=child,
        )
        parameter_group = aws.rds.ParameterGroup(
            f"{name}-parameter-group",
            # A prefix, not a name: a family change replaces the group, and the new one is created
            # (with a fresh suffix) before the old one is deleted.
            name_prefix=f"{args.prefix}-primary-{args.parameter_group_family}-",
            family=args.parameter_group_family,
            description=f"{args.prefix}: primary parameters (defaults unless there is a reason)",
            parameters=[p.to_args() for p in args.parameters],
            tags=tags(f"{args.prefix}-primary"),
            opts=child,
        )
        monitoring_role = aws.iam.Role(
            f"{name}-monitoring-role",
            name=f"{args.prefix}-rds-enhanced-monitoring",
            description="Lets RDS enhanced monitoring publish OS metrics to CloudWatch Logs",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=tags(f"{args.prefix}-rds-enhanced-monitoring"),
            opts=child,
        )
        monitoring_attachment = aws.iam.RolePolicyAttachment(
            f"{name}-monitoring-role-policy",
            role=monitoring_role.name,
            policy_arn=partition.partition.apply(lambda p: f"arn:{p}:iam::aws:policy/{ENHANCED_MONITORING_POLICY}"),
            opts=child,
        )

        identifier = f"{args.prefix}-db"
        self.instance = aws.rds.Instance(
            f"{name}-primary",
            identifier=identifier,
            engine=args.engine,
            engine_version=args.engine_version,
            instance_class=args.instance_class,
            allocated_storage=args.allocated_storage_gib,
            max_allocated_storage=args.max_allocated_storage_gib or None,
            storage_type=args.storage_type,
            storage_encrypted=True,
            kms_key_id=key.arn,
            db_name=args.db_name,
            port=args.port,
            username=args.username,
            password=args.password,
            multi_az=args.multi_az,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=list(args.security_group_ids),
            publicly_accessible=False,
            parameter_group_name=parameter_group.name,
            iam_database_authentication_enabled=True,
            backup_retention_period=args.backup_retention_days,
            backup_window=args.backup_window,
            maintenance_window=args.maintenance_window,
            copy_tags_to_snapshot=True,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=args.skip_final_snapshot,
            final_snapshot_identifier=None if args.skip_final_snapshot else f"{identifier}-final",
            auto_minor_version_upgrade=True,
            allow_major_version_upgrade=False,
            performance_insights_enabled=args.performance_insights_enabled,
            performance_insights_kms_key_id=key.arn if args.performance_insights_enabled else None,
            performance_insights_retention_period=(
                args.performance_insights_retention_days if args.performance_insights_enabled else None
            ),
            monitoring_interval=args.monitoring_interval_s,
            monitoring_role_arn=monitoring_role.arn,
            enabled_cloudwatch_logs_exports=LOG_EXPORTS,
            tags=tags(identifier),
            # The role must carry its policy before RDS starts publishing with it.
            opts=ResourceOptions(parent=self, depends_on=[monitoring_attachment]),
        )

        self.identifier = self.instance.identifier
        self.arn = self.instance.arn
        self.address = self.instance.address
        self.port = self.instance.port
        self.kms_key_arn = key.arn
        self.monitoring_role_arn = monitoring_role.arn
        self.register_outputs(
            {
                "identifier": self.identifier,
                "arn": self.arn,
                "address": self.address,
                "kmsKeyArn": self.kms_key_arn,
                "monitoringRoleArn": self.monitoring_role_arn,
            }
        )
