"""A team's own project using ResilientPostgres: its VPC, its app security group, one database."""

import pulumi
import pulumi_aws as aws

from components.args import DatabaseArgs, NetworkArgs, ResilientPostgresArgs, WorkloadArgs
from components.resilient_postgres import ResilientPostgres

vpc = aws.ec2.Vpc("app-vpc", cidr_block="10.30.0.0/16", enable_dns_support=True, enable_dns_hostnames=True)
subnets = [
    aws.ec2.Subnet(f"app-private-{zone}", vpc_id=vpc.id, cidr_block=f"10.30.{index}.0/24", availability_zone=f"us-east-1{zone}")
    for index, zone in enumerate("ab")
]
app = aws.ec2.SecurityGroup("app", vpc_id=vpc.id, description="The application tier")

db = ResilientPostgres(
    "orders",
    ResilientPostgresArgs(
        network=NetworkArgs(vpc_id=vpc.id, subnet_ids=[s.id for s in subnets], app_security_group_ids=[app.id]),
        database=DatabaseArgs(instance_class="db.t4g.medium", multi_az=False, deletion_protection=False,
                              skip_final_snapshot=True, backup_retention_days=1),
        workload=WorkloadArgs(lambda_concurrency=10, ecs_tasks=2, ecs_pool_size=5),
    ),
)

pulumi.export("proxyEndpoint", db.proxy_endpoint)
pulumi.export("secretArn", db.secret_arn)
pulumi.export("connectPolicyArn", db.connect_policy_arn)
pulumi.export("connectionBudget", db.connection_budget)
