"""resilient-rds: RDS for PostgreSQL behind RDS Proxy, Multi-AZ, with alarms sized from the connection budget.

Thin on purpose: stack config -> validated settings (a bad stack file declares nothing) ->
ResilientPostgres (components/resilient_postgres.py) -> exports.
"""

from __future__ import annotations

import pulumi

from components.config import load_config
from components.resilient_postgres import ResilientPostgres

config = load_config()  # raises ConfigError listing every problem, naming the key and Pulumi.<stack>.yaml
db = ResilientPostgres(config.name, config.to_args())

pulumi.export("environment", config.environment)
pulumi.export("proxyEndpoint", db.proxy_endpoint)
pulumi.export("proxyName", db.proxy_name)
pulumi.export("readerEndpoints", db.reader_endpoints)
pulumi.export("primaryIdentifier", db.primary_identifier)
pulumi.export("replicaIdentifiers", db.replica_identifiers)
pulumi.export("port", db.port)
pulumi.export("dbName", db.db_name)
pulumi.export("dbUser", db.db_user)
pulumi.export("dbReaderUser", db.db_reader_user)
pulumi.export("secretArn", db.secret_arn)
pulumi.export("connectPolicyArn", db.connect_policy_arn)
pulumi.export("connectResourceArn", db.connect_resource_arn)
pulumi.export("appSecurityGroupId", db.app_security_group_ids.apply(lambda ids: ids[0]))
pulumi.export("appSecurityGroupIds", db.app_security_group_ids)
pulumi.export("replicaSecurityGroupId", db.replica_security_group_id)  # None without replicas
pulumi.export("vpcId", db.vpc_id)
pulumi.export("subnetIds", db.subnet_ids)
pulumi.export("alarmTopicArn", db.alarm_topic_arn)
pulumi.export("dashboardName", db.dashboard_name)
pulumi.export("dashboardUrl", db.dashboard_url)
pulumi.export("eventSubscriptionId", db.event_subscription_id)
pulumi.export("connectionBudget", db.connection_budget)
pulumi.export("connectionBudgetRows", db.connection_budget_rows)
pulumi.export("ecsPool", db.ecs_pool)
if db.order_lookup_function_arn is not None:
    pulumi.export("orderLookupFunctionArn", db.order_lookup_function_arn)
