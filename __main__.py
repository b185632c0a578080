"""resilient-rds: RDS for PostgreSQL behind RDS Proxy, Multi-AZ, with alarms sized from the connection budget.

Thin on purpose: stack config -> validated StackConfig (nothing is declared if it
is bad) -> sizing (budget, thresholds) -> components -> exports.
"""

from __future__ import annotations

import pulumi

from components.access import Access, AccessArgs
from components.alarms import Alarms, AlarmsArgs
from components.app_lambda import OrderLookupFunction, OrderLookupFunctionArgs
from components.config import ENGINE, POSTGRES_PORT, load_config
from components.credentials import Credentials, CredentialsArgs
from components.database import Database, DatabaseArgs, database_parameters
from components.network import Network, NetworkArgs
from components.proxy import Proxy, ProxyArgs
from components.replica import Replica, ReplicaArgs
from components.sizing import ecs_pool_bounds

config = load_config()  # raises ConfigError listing every problem, before any resource exists
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
        allocated_storage_gib=db.allocated_storage_gib,
        max_allocated_storage_gib=db.max_allocated_storage_gib,
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
        monitoring_interval=db.monitoring_interval,
        tags=tags,
    ),
)
secret_version = credentials.publish_connection(database.address, database.port)

replica = Replica(
    "replica",
    ReplicaArgs(
        prefix=config.prefix,
        count=config.replicas.count,
        instance_class=config.replicas.instance_class,
        source_identifier=database.identifier,
        parameter_group_family=db.parameter_group_family,
        parameters=parameters,
        # Not the database group: readers reach replicas directly (no proxy can front them), and the
        # primary must stay reachable through the proxy only.
        security_group_ids=[network.replica_security_group_id] if network.replica_security_group_id is not None else [],
        monitoring_role_arn=database.monitoring_role_arn,
        monitoring_interval=db.monitoring_interval,
        kms_key_arn=database.kms_key_arn,
        performance_insights_enabled=db.performance_insights_enabled,
        performance_insights_retention_days=db.performance_insights_retention_days,
        deletion_protection=db.deletion_protection,
        maintenance_window=db.maintenance_window,
        tags=tags,
    ),
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
        connection_borrow_timeout=config.proxy.connection_borrow_timeout,
        idle_client_timeout=config.proxy.idle_client_timeout,
        init_query=config.proxy.init_query,
        depends_on=[secret_version],
        tags=tags,
    ),
)

alarms = Alarms(
    "alarms",
    AlarmsArgs(
        prefix=config.prefix,
        thresholds=config.alarm_thresholds,
        borrow_latency_threshold_us=config.borrow_latency_threshold_us,
        replica_lag_seconds=config.alarms.replica_lag_seconds,
        primary_identifier=database.identifier,
        replica_identifiers=[r.identifier for r in replica.instances],
        proxy_name=proxy.name,
        sns_topic_arn=config.alarms.sns_topic_arn,
        email=config.alarms.email,
        tags=tags,
    ),
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
)

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
            timeout_seconds=config.lambda_function.timeout_seconds,
            prefix=config.prefix,
            tags=tags,
        ),
    )
    pulumi.export("orderLookupFunctionArn", order_lookup.function_arn)

pool_min, pool_max = ecs_pool_bounds(config.workload)
pulumi.export("environment", config.environment)
pulumi.export("proxyEndpoint", proxy.endpoint)
pulumi.export("proxyName", proxy.name)
pulumi.export("readerEndpoints", replica.addresses)
pulumi.export("primaryIdentifier", database.identifier)
pulumi.export("replicaIdentifiers", replica.identifiers)
pulumi.export("port", POSTGRES_PORT)
pulumi.export("dbName", db.db_name)
pulumi.export("dbUser", db.master_username)
pulumi.export("dbReaderUser", db.reader_username)
pulumi.export("secretArn", credentials.secret_arn)
pulumi.export("connectPolicyArn", access.connect_policy_arn)
pulumi.export("connectResourceArn", access.connect_resource_arn)
pulumi.export("appSecurityGroupId", network.app_security_group_ids.apply(lambda ids: ids[0]))
pulumi.export("appSecurityGroupIds", network.app_security_group_ids)
pulumi.export("replicaSecurityGroupId", network.replica_security_group_id)  # None without replicas
pulumi.export("vpcId", network.vpc_id)
pulumi.export("subnetIds", network.subnet_ids)
pulumi.export("alarmTopicArn", alarms.topic_arn)
pulumi.export("connectionBudget", budget.summary())
pulumi.export("connectionBudgetRows", [list(row) for row in budget.rows()])
pulumi.export("ecsPool", {"minSize": pool_min, "maxSize": pool_max})
