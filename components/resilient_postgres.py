"""ResilientPostgres: the whole stack as one ComponentResource.

RDS for PostgreSQL behind RDS Proxy, Multi-AZ, read replicas reached with IAM
authentication, alarms sized from the connection budget, and optionally the
order-lookup Lambda.  The args (:class:`components.args.ResilientPostgresArgs`)
come from the settings declaration; they are validated exactly as a stack file
is (:func:`components.config.validate_args`), and a bad value raises one
:class:`~components.config.ConfigError` listing every problem before anything,
the component included, is registered.

The children keep the names they had as top-level resources of the stack
program, and each carries an alias to its old, parentless URN: ``pulumi up`` on
a stack deployed before the component existed moves them under it and replaces
nothing.  The children's names being fixed, one stack holds one ResilientPostgres.

No ``from __future__ import annotations``: the package schema is inferred from
the annotations of ``__init__`` and of the outputs below.
"""

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi import ResourceOptions

from components.access import Access, AccessArgs
from components.alarms import Alarms, AlarmsArgs
from components.app_lambda import OrderLookupFunction, OrderLookupFunctionArgs
from components.args import ResilientPostgresArgs
from components.config import ENGINE, POSTGRES_PORT, StackConfig, args_from_inputs, validate_args
from components.credentials import Credentials, CredentialsArgs
from components.dashboard import Dashboard, DashboardArgs
from components.database import Database, DatabaseArgs, database_parameters
from components.events import DatabaseEvents, DatabaseEventsArgs
from components.network import Network, NetworkArgs
from components.proxy import Proxy, ProxyArgs
from components.replica import Replica, ReplicaArgs
from components.settings import camel_case
from components.sizing import ecs_pool_bounds

TYPE_TOKEN = "resilient-rds:index:ResilientPostgres"


class ResilientPostgres(pulumi.ComponentResource):
    """RDS for PostgreSQL behind RDS Proxy, Multi-AZ, with replicas and alarms sized from the connection budget."""

    proxy_endpoint: pulumi.Output[str]
    """Writers connect here (RDS Proxy, TLS, IAM authentication)."""
    proxy_name: pulumi.Output[str]
    """The RDS Proxy's name."""
    reader_endpoints: pulumi.Output[list[str]]
    """The read replicas' addresses (direct, IAM authentication as the reader user); empty without replicas."""
    primary_identifier: pulumi.Output[str]
    """The primary instance's identifier."""
    replica_identifiers: pulumi.Output[list[str]]
    """The read replicas' identifiers."""
    port: pulumi.Output[int]
    """The PostgreSQL port of the proxy and the replicas."""
    db_name: pulumi.Output[str]
    """The database name."""
    db_user: pulumi.Output[str]
    """The master user: clients log in as it through the proxy with an IAM token."""
    db_reader_user: pulumi.Output[str]
    """The rds_iam user of the direct read path (create it once with dbclient/reader_role.sql)."""
    secret_arn: pulumi.Output[str]
    """The Secrets Manager secret holding the generated master password (RDS Proxy reads it)."""
    connect_policy_arn: pulumi.Output[str]
    """IAM policy allowing rds-db:connect to the proxy and the replicas: attach it to the application roles."""
    connect_resource_arn: pulumi.Output[str]
    """The proxy's rds-db:connect resource ARN for the master user."""
    vpc_id: pulumi.Output[str]
    """The VPC (created or given)."""
    subnet_ids: pulumi.Output[list[str]]
    """The private subnets of the database, proxy and replicas."""
    app_security_group_ids: pulumi.Output[list[str]]
    """The application groups allowed to the proxy and the replicas (created when none was given)."""
    proxy_security_group_id: pulumi.Output[str]
    """The proxy's security group."""
    database_security_group_id: pulumi.Output[str]
    """The primary's security group (reachable from the proxy only)."""
    replica_security_group_id: pulumi.Output[str] | None
    """The replicas' security group; absent without replicas."""
    alarm_topic_arn: pulumi.Output[str]
    """The SNS topic the alarms publish to."""
    connection_budget: pulumi.Output[dict[str, Any]]
    """The connection budget: max_connections, reserved, client and proxy connections, and whether they fit."""
    connection_budget_rows: pulumi.Output[list[list[str]]]
    """The connection budget as (what, value) rows, for people."""
    ecs_pool: pulumi.Output[dict[str, int]]
    """minSize and maxSize of one ECS task's client pool."""
    order_lookup_function_arn: pulumi.Output[str] | None
    """The order-lookup Lambda; absent unless lambdaFunction.enabled."""
    dashboard_name: pulumi.Output[str]
    """The CloudWatch dashboard on-call looks at (connections against the alarm thresholds, proxy, lag)."""
    dashboard_url: pulumi.Output[str]
    """The console URL of that dashboard."""
    event_subscription_id: pulumi.Output[str]
    """The RDS event subscription that announces failovers, failures, low storage and maintenance."""

    def __init__(self, name: str, args: ResilientPostgresArgs, opts: ResourceOptions | None = None) -> None:
        if isinstance(args, Mapping):  # from the component package's provider (provider/): dicts, not dataclasses
            args = args_from_inputs(args)
        config = validate_args(args)  # raises ConfigError listing every problem; nothing is registered yet
        super().__init__(TYPE_TOKEN, name, None, opts)
        self.config = config
        # Each child was a top-level resource of the stack program: alias the parentless URN.
        child = ResourceOptions(parent=self, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)])
        self._declare(config, child)

    def _declare(self, config: StackConfig, child: ResourceOptions) -> None:
        budget = config.connection_budget
        tags = config.resource_tags
        db = config.database

        network = Network(
            "network",
            NetworkArgs(
                prefix=config.prefix,
                port=POSTGRES_PORT,
                create_vpc=config.network.create_vpc,
                vpc_cidr=config.network.vpc_cidr,
                availability_zone_count=config.network.availability_zone_count,
                vpc_id=config.network.vpc_id,
                subnet_ids=config.network.subnet_ids,
                app_security_group_ids=config.network.app_security_group_ids,
                replica_count=config.replicas.count,
                tags=tags,
            ),
            opts=child,
        )
        credentials = Credentials(
            "credentials",
            CredentialsArgs(
                prefix=config.prefix,
                username=db.master_username,
                db_name=db.db_name,
                engine=ENGINE,
                recovery_window_days=30 if config.environment == "prod" else 0,
                tags=tags,
            ),
            opts=child,
        )
        parameters = database_parameters(
            max_connections=db.max_connections,
            work_mem_kb=db.work_mem_kb,
            idle_in_transaction_session_timeout_ms=db.idle_in_transaction_session_timeout_ms,
        )
        database = Database(
            "database",
            DatabaseArgs(
                prefix=config.prefix,
                engine=ENGINE,
                engine_version=db.engine_version,
                parameter_group_family=db.parameter_group_family,
                instance_class=db.instance_class,
                allocated_storage_gib=db.allocated_storage,
                max_allocated_storage_gib=db.max_allocated_storage,
                storage_type=db.storage_type,
                multi_az=db.multi_az,
                db_name=db.db_name,
                port=POSTGRES_PORT,
                username=db.master_username,
                password=credentials.password,
                subnet_ids=network.subnet_ids,
                security_group_ids=[network.database_security_group_id],
                parameters=parameters,
                backup_retention_days=db.backup_retention_days,
                backup_window=db.backup_window,
                maintenance_window=db.maintenance_window,
                deletion_protection=db.deletion_protection,
                skip_final_snapshot=db.skip_final_snapshot,
                performance_insights_enabled=db.performance_insights_enabled,
                performance_insights_retention_days=db.performance_insights_retention_days,
                monitoring_interval_s=db.monitoring_interval_s,
                tags=tags,
            ),
            opts=child,
        )
        secret_version = credentials.publish_connection(database.address, database.port)
        replica = Replica(
            "replica",
            ReplicaArgs(
                prefix=config.prefix,
                count=config.replicas.count,
                instance_class=config.replica_instance_class,
                source_identifier=database.identifier,
                parameter_group_family=db.parameter_group_family,
                parameters=parameters,
                # Not the database group: readers reach replicas directly (no proxy can front them), and the
                # primary must stay reachable through the proxy only.
                security_group_ids=[network.replica_security_group_id] if network.replica_security_group_id else [],
                monitoring_role_arn=database.monitoring_role_arn,
                monitoring_interval_s=db.monitoring_interval_s,
                kms_key_arn=database.kms_key_arn,
                performance_insights_enabled=db.performance_insights_enabled,
                performance_insights_retention_days=db.performance_insights_retention_days,
                deletion_protection=db.deletion_protection,
                maintenance_window=db.maintenance_window,
                tags=tags,
            ),
            opts=child,
        )
        proxy = Proxy(
            "proxy",
            ProxyArgs(
                prefix=config.prefix,
                subnet_ids=network.subnet_ids,
                security_group_ids=[network.proxy_security_group_id],
                secret_arn=credentials.secret_arn,
                secret_kms_key_arn=credentials.kms_key_arn,
                db_instance_identifier=database.identifier,
                max_connections_percent=config.proxy.max_connections_percent,
                max_idle_connections_percent=config.proxy.max_idle_connections_percent,
                connection_borrow_timeout_s=config.proxy.connection_borrow_timeout_s,
                idle_client_timeout_s=config.proxy.idle_client_timeout_s,
                init_query=config.proxy.init_query,
                depends_on=[secret_version],
                tags=tags,
            ),
            opts=child,
        )
        alarms = Alarms(
            "alarms",
            AlarmsArgs(
                prefix=config.prefix,
                thresholds=config.alarm_thresholds,
                borrow_latency_threshold_us=config.borrow_latency_threshold_us,
                replica_lag_s=config.alarms.replica_lag_s,
                primary_identifier=database.identifier,
                replica_identifiers=[r.identifier for r in replica.instances],
                proxy_name=proxy.name,
                sns_topic_arn=config.alarms.sns_topic_arn,
                email=config.alarms.email,
                tags=tags,
            ),
            opts=child,
        )
        # New with the component (no deployed URN to keep): plain children, no alias.
        on_call = ResourceOptions(parent=self)
        events = DatabaseEvents(
            "events",
            DatabaseEventsArgs(
                prefix=config.prefix,
                sns_topic_arn=alarms.topic_arn,
                primary_identifier=database.identifier,
                replica_identifiers=[r.identifier for r in replica.instances],
                tags=tags,
            ),
            opts=on_call,
        )
        dashboard = Dashboard(
            "dashboard",
            DashboardArgs(
                prefix=config.prefix,
                budget=budget,
                thresholds=config.alarm_thresholds,
                borrow_latency_threshold_us=config.borrow_latency_threshold_us,
                connection_borrow_timeout_s=config.proxy.connection_borrow_timeout_s,
                replica_lag_threshold_s=config.alarms.replica_lag_s,
                primary_identifier=database.identifier,
                replica_identifiers=[r.identifier for r in replica.instances],
                proxy_name=proxy.name,
            ),
            opts=on_call,
        )
        access = Access(
            "access",
            AccessArgs(
                prefix=config.prefix,
                proxy_arn=proxy.arn,
                db_user=db.master_username,
                # Replicas are reached with IAM auth as a user granted rds_iam; the master user cannot be
                # that user (rds_iam stops its password login, which RDS Proxy uses).
                reader_user=db.reader_username,
                replica_arns=replica.arns,
                replica_resource_ids=replica.resource_ids,
                tags=tags,
            ),
            opts=child,
        )
        self.order_lookup_function_arn = None
        if config.lambda_function.enabled:
            order_lookup = OrderLookupFunction(
                "order-lookup",
                OrderLookupFunctionArgs(
                    subnet_ids=network.subnet_ids,
                    security_group_ids=network.app_security_group_ids,
                    connect_policy_arn=access.connect_policy_arn,
                    # The budget counted lambdaConcurrency client connections: never allow more.
                    reserved_concurrency=config.workload.lambda_concurrency,
                    proxy_endpoint=proxy.endpoint,
                    # Reachable: the replica group admits the app groups and the connect policy covers the replicas.
                    reader_endpoint=replica.instances[0].address if replica.instances else None,
                    db_user=db.master_username,
                    db_reader_user=db.reader_username,
                    db_name=db.db_name,
                    memory_mb=config.lambda_function.memory_mb,
                    timeout_s=config.lambda_function.timeout_s,
                    layer_archive=config.lambda_function.layer_archive,
                    prefix=config.prefix,
                    tags=tags,
                ),
                opts=child,
            )
            self.order_lookup_function_arn = order_lookup.function_arn

        # What on-call views (a dashboard, an RDS event subscription) are built from, kept on the component.
        self.network, self.database, self.replica, self.proxy, self.alarms = network, database, replica, proxy, alarms
        self.thresholds = config.alarm_thresholds

        pool_min, pool_max = ecs_pool_bounds(config.workload)
        self.proxy_endpoint = proxy.endpoint
        self.proxy_name = proxy.name
        self.reader_endpoints = replica.addresses
        self.primary_identifier = database.identifier
        self.replica_identifiers = replica.identifiers
        self.port = pulumi.Output.from_input(POSTGRES_PORT)
        self.db_name = pulumi.Output.from_input(db.db_name)
        self.db_user = pulumi.Output.from_input(db.master_username)
        self.db_reader_user = pulumi.Output.from_input(db.reader_username)
        self.secret_arn = credentials.secret_arn
        self.connect_policy_arn = access.connect_policy_arn
        self.connect_resource_arn = access.connect_resource_arn
        self.vpc_id = network.vpc_id
        self.subnet_ids = network.subnet_ids
        self.app_security_group_ids = network.app_security_group_ids
        self.proxy_security_group_id = network.proxy_security_group_id
        self.database_security_group_id = network.database_security_group_id
        self.replica_security_group_id = network.replica_security_group_id
        self.alarm_topic_arn = alarms.topic_arn
        self.dashboard_name = dashboard.dashboard_name
        self.dashboard_url = dashboard.url
        self.event_subscription_id = events.subscription_id
        self.connection_budget = pulumi.Output.from_input(budget.summary())
        self.connection_budget_rows = pulumi.Output.from_input([list(row) for row in budget.rows()])
        self.ecs_pool = pulumi.Output.from_input({"minSize": pool_min, "maxSize": pool_max})
        self.register_outputs(self.outputs())

    def outputs(self) -> dict[str, Any]:
        """The registered outputs, by schema name (absent ones left out)."""
        names = [name for name in type(self).__annotations__ if not name.startswith("_")]
        return {camel_case(name): getattr(self, name) for name in names if getattr(self, name, None) is not None}
