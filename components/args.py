"""Typed args of ResilientPostgres and the resolved settings, generated from components/settings.py.

Do not edit: run ``python -m components.settings``.  ``<Section>Args`` are what a consumer
passes (every field optional unless required; None means the default); ``<Section>Settings``
are the validated values with defaults applied, produced by :func:`components.config.validate`.
No ``from __future__ import annotations`` here: the package schema is inferred from these annotations.
"""

# ruff: noqa: E501
from dataclasses import dataclass

import pulumi


@dataclass
class NetworkArgs:
    """Where the database lives: an existing VPC (vpcId, subnetIds) or a new private one (createVpc)."""

    create_vpc: bool | None = None
    """Create a VPC with private subnets only (no internet gateway). Default: false."""
    vpc_cidr: str | None = None
    """CIDR block of the created VPC; only with createVpc. Default: 10.20.0.0/16."""
    availability_zone_count: int | None = None
    """Private subnets of the created VPC, one per availability zone. Default: 2."""
    vpc_id: pulumi.Input[str] | None = None
    """The existing VPC; required unless createVpc. Default: unset."""
    subnet_ids: list[pulumi.Input[str]] | None = None
    """At least 2 private subnets of vpcId in different availability zones. Default: []."""
    app_security_group_ids: list[pulumi.Input[str]] | None = None
    """Security groups of the application tier (allowed to the proxy and the replicas); empty creates one. Not with createVpc. Default: [] (an app group is created)."""


@dataclass
class DatabaseArgs:
    """The primary RDS for PostgreSQL instance."""

    instance_class: str
    """Instance class of the primary; sizes the connection budget. Required."""
    engine_version: str | None = None
    """PostgreSQL version, major only (recommended with auto minor upgrades) or 15.x; the parameter-group family postgres15 is derived from it. Default: 15."""
    allocated_storage: int | None = None
    """Allocated gp3 storage. Default: 20."""
    max_allocated_storage: int | None = None
    """Storage autoscaling ceiling; 0 turns autoscaling off, else at least 10 % above allocatedStorage. Default: 0."""
    storage_type: str | None = None
    """Storage type. Default: gp3."""
    multi_az: bool | None = None
    """A synchronous standby in a second availability zone. Default: true."""
    db_name: str | None = None
    """The database created on the instance. Default: orders."""
    master_username: str | None = None
    """Master user (RDS Proxy logs in as it); not admin, rdsadmin, rdsrepladmin, rds_superuser, rds_replication, public or `pg_*`. Default: orders_admin."""
    reader_username: str | None = None
    """The IAM-authenticated (rds_iam) user of the direct read path to the replicas; same rules as masterUsername and different from it. Default: orders_reader."""
    backup_retention_days: int | None = None
    """Automated backups kept. Default: 7."""
    backup_window: str | None = None
    """Daily backup window in UTC. Default: 03:00-04:00."""
    maintenance_window: str | None = None
    """Weekly maintenance window in UTC. Default: mon:04:30-mon:05:30."""
    deletion_protection: bool | None = None
    """Refuse to delete the instance. Default: true."""
    skip_final_snapshot: bool | None = None
    """Delete without a final snapshot. Default: false."""
    performance_insights_enabled: bool | None = None
    """Performance Insights (not offered on micro/small classes). Default: true."""
    performance_insights_retention_days: int | None = None
    """Performance Insights retention: 7, 31 x n (n <= 23) or 731. Default: 7."""
    monitoring_interval_s: int | None = None
    """Enhanced monitoring interval. Default: 60."""
    max_connections: int | None = None
    """max_connections, only to raise the class default and only if the memory check passes (a pending-reboot parameter); unset keeps the RDS default. Default: unset (RDS default)."""
    work_mem_kb: int | None = None
    """work_mem; shared_buffers + work_mem x the connections busy at the design point (20 % of those the proxy may open) must fit in memory. Default: unset (4 MB)."""
    idle_in_transaction_session_timeout_ms: int | None = None
    """Ends sessions idle in a transaction this long. Default: 300000."""


@dataclass
class ReplicasArgs:
    """Read replicas, reached directly by readers with IAM authentication."""

    count: int | None = None
    """Number of read replicas. Default: 0."""
    instance_class: str | None = None
    """Class of the replicas; its default max_connections must be at least the primary's. Default: the primary's class."""


@dataclass
class WorkloadArgs:
    """The clients: the connection budget's inputs."""

    lambda_concurrency: int | None = None
    """Concurrent Lambda executions, one connection each. Default: 0."""
    ecs_tasks: int | None = None
    """ECS tasks with a connection pool each. Default: 0."""
    ecs_pool_size: int | None = None
    """Pool size per ECS task; at least 1 when ecsTasks > 0. Default: 0."""
    other_clients: int | None = None
    """Other client connections (jobs, consoles). Default: 0."""
    active_ratio: float | None = None
    """Share of time a client connection is in a transaction. Default: 0.2."""


@dataclass
class ProxyArgs:
    """RDS Proxy in front of the primary."""

    max_connections_percent: int | None = None
    """Share of max_connections the proxy may open; the budget must fit. Default: 90."""
    max_idle_connections_percent: int | None = None
    """Share of max_connections the proxy keeps idle; at most maxConnectionsPercent. Default: 50."""
    connection_borrow_timeout_s: int | None = None
    """How long a client waits for a database connection. Default: 120."""
    idle_client_timeout_s: int | None = None
    """Idle client connections are closed after this. Default: 1800."""
    init_query: str | None = None
    """SQL run on each new database connection (`sessionPinningFilters` is rejected: MySQL-only). Default: none."""


@dataclass
class AlarmsArgs:
    """CloudWatch alarms, sized from the connection budget."""

    sns_topic_arn: str | None = None
    """An existing topic the alarms publish to; not together with email. Default: none (a topic is created)."""
    email: str | None = None
    """Subscribed to the created topic. Default: none."""
    connections_percent: int | None = None
    """Connections alarm, in percent of max_connections. Default: 80."""
    replica_lag_s: int | None = None
    """Replica lag alarm threshold. Default: 60."""
    cpu_percent: int | None = None
    """CPU alarm threshold. Default: 80."""
    freeable_memory_percent: int | None = None
    """Freeable memory alarm, in percent of instance memory. Default: 10."""
    free_storage_percent: int | None = None
    """Free storage alarm, in percent of allocated storage. Default: 10."""
    borrow_latency_ms: int | None = None
    """Proxy borrow latency alarm; below connectionBorrowTimeoutS. Default: 100."""


@dataclass
class LambdaFunctionArgs:
    """The order-lookup Lambda (dbclient.lambda_handler) next to the proxy."""

    enabled: bool | None = None
    """Deploy the order-lookup Lambda; needs workload.lambdaConcurrency >= 1 and layerArchive. Default: false."""
    memory_mb: int | None = None
    """Function memory. Default: 256."""
    timeout_s: int | None = None
    """Function timeout. Default: 10."""
    layer_archive: str | None = None
    """The psycopg layer zip built by `make layer`, relative to the project directory; must exist when enabled. Default: build/lambda-layer.zip."""


@dataclass(frozen=True)
class NetworkSettings:
    """Validated network settings, defaults applied."""

    create_vpc: bool
    vpc_cidr: str | None
    availability_zone_count: int
    vpc_id: pulumi.Input[str] | None
    subnet_ids: tuple[pulumi.Input[str], ...]
    app_security_group_ids: tuple[pulumi.Input[str], ...]


@dataclass(frozen=True)
class DatabaseSettings:
    """Validated database settings, defaults applied."""

    engine_version: str
    instance_class: str
    allocated_storage: int
    max_allocated_storage: int
    storage_type: str
    multi_az: bool
    db_name: str
    master_username: str
    reader_username: str
    backup_retention_days: int
    backup_window: str
    maintenance_window: str
    deletion_protection: bool
    skip_final_snapshot: bool
    performance_insights_enabled: bool
    performance_insights_retention_days: int
    monitoring_interval_s: int
    max_connections: int | None
    work_mem_kb: int | None
    idle_in_transaction_session_timeout_ms: int


@dataclass(frozen=True)
class ReplicasSettings:
    """Validated replicas settings, defaults applied."""

    count: int
    instance_class: str | None


@dataclass(frozen=True)
class ProxySettings:
    """Validated proxy settings, defaults applied."""

    max_connections_percent: int
    max_idle_connections_percent: int
    connection_borrow_timeout_s: int
    idle_client_timeout_s: int
    init_query: str | None


@dataclass(frozen=True)
class AlarmsSettings:
    """Validated alarms settings, defaults applied."""

    sns_topic_arn: str | None
    email: str | None
    connections_percent: int
    replica_lag_s: int
    cpu_percent: int
    freeable_memory_percent: int
    free_storage_percent: int
    borrow_latency_ms: int


@dataclass(frozen=True)
class LambdaFunctionSettings:
    """Validated lambdaFunction settings, defaults applied."""

    enabled: bool
    memory_mb: int
    timeout_s: int
    layer_archive: str


@dataclass
class ResilientPostgresArgs:
    """RDS for PostgreSQL behind RDS Proxy, Multi-AZ, with replicas and alarms sized from the connection budget."""

    database: DatabaseArgs
    """The primary RDS for PostgreSQL instance."""
    environment: str | None = None
    """Deployment environment; prod requires multiAz, deletionProtection, a final snapshot and backups of 7 days or more. Default: the stack name."""
    name: str | None = None
    """Prefix of every physical name (`orders-prod-...`). Default: orders."""
    network: NetworkArgs | None = None
    """Where the database lives: an existing VPC (vpcId, subnetIds) or a new private one (createVpc)."""
    replicas: ReplicasArgs | None = None
    """Read replicas, reached directly by readers with IAM authentication."""
    workload: WorkloadArgs | None = None
    """The clients: the connection budget's inputs."""
    proxy: ProxyArgs | None = None
    """RDS Proxy in front of the primary."""
    alarms: AlarmsArgs | None = None
    """CloudWatch alarms, sized from the connection budget."""
    lambda_function: LambdaFunctionArgs | None = None
    """The order-lookup Lambda (dbclient.lambda_handler) next to the proxy."""
    tags: dict[str, str] | None = None
    """Tags added to every resource; keys may not start with `aws:`."""
