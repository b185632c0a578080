"""RDS Proxy in front of the primary: connection pooling and fast failover.

The proxy holds client connections open while the Multi-AZ standby takes
over, and multiplexes many client connections onto few database connections
(the connection budget in sizing.py).  It targets the primary only: a proxy
for an RDS instance cannot include a read replica, and READ_ONLY proxy
endpoints are not supported for it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions


@dataclass(frozen=True)
class ProxyArgs:
    prefix: str
    subnet_ids: pulumi.Input[Sequence[str]]
    security_group_ids: Sequence[pulumi.Input[str]]
    secret_arn: pulumi.Input[str]
    secret_kms_key_arn: pulumi.Input[str]
    db_instance_identifier: pulumi.Input[str]
    max_connections_percent: int
    max_idle_connections_percent: int
    connection_borrow_timeout_s: int
    idle_client_timeout_s: int
    init_query: str | None
    #: Resources that must exist before the proxy can log in (the secret's value).
    depends_on: Sequence[pulumi.Resource] = ()
    tags: dict[str, str] = field(default_factory=dict)


def proxy_role_policy(secret_arn: str, kms_key_arn: str, region: str) -> str:
    """Least privilege for the proxy: read this secret, decrypt with this key via Secrets Manager only."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadDatabaseCredentials",
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue"],
                    "Resource": [secret_arn],
                },
                {
                    "Sid": "DecryptDatabaseCredentials",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt"],
                    "Resource": [kms_key_arn],
                    "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
                },
            ],
        }
    )


class Proxy(pulumi.ComponentResource):
    name: pulumi.Output[str]
    arn: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ProxyArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("resilient-rds:proxy:Proxy", name, None, opts)
        child = ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        region = aws.get_region_output(opts=invoke)

        def tags(resource_name: str) -> dict[str, str]:
            return {**args.tags, "Name": resource_name}

        role = aws.iam.Role(
            f"{name}-role",
            name=f"{args.prefix}-rds-proxy",
            description="Assumed by RDS Proxy to read the database credentials secret",
            # The trust policy RDS Proxy documents; an aws:SourceAccount condition is not documented
            # for the proxy's role and a role the proxy cannot assume breaks every connection.
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": "rds.amazonaws.com"}, "Action": "sts:AssumeRole"}],
                }
            ),
            tags=tags(f"{args.prefix}-rds-proxy"),
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=role.id,
            policy=pulumi.Output.all(args.secret_arn, args.secret_kms_key_arn, region.region).apply(
                lambda v: proxy_role_policy(v[0], v[1], v[2])
            ),
            opts=child,
        )
        proxy = aws.rds.Proxy(
            f"{name}-proxy",
            name=f"{args.prefix}-proxy",
            engine_family="POSTGRESQL",
            role_arn=role.arn,
            require_tls=True,
            debug_logging=False,  # it would log SQL text, including literals
            idle_client_timeout=args.idle_client_timeout_s,
            vpc_subnet_ids=args.subnet_ids,
            vpc_security_group_ids=list(args.security_group_ids),
            auths=[
                aws.rds.ProxyAuthArgs(
                    auth_scheme="SECRETS",
                    description="master credentials; clients authenticate with IAM tokens",
                    iam_auth="REQUIRED",
                    client_password_auth_type="POSTGRES_SCRAM_SHA_256",
                    secret_arn=args.secret_arn,
                )
            ],
            tags=tags(f"{args.prefix}-proxy"),
            opts=ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        pool = aws.rds.ProxyDefaultTargetGroupConnectionPoolConfigArgs(
            max_connections_percent=args.max_connections_percent,
            max_idle_connections_percent=args.max_idle_connections_percent,
            connection_borrow_timeout=args.connection_borrow_timeout_s,
            init_query=args.init_query,
            # No session_pinning_filters: EXCLUDE_VARIABLE_SETS is MySQL-only.
        )
        target_group = aws.rds.ProxyDefaultTargetGroup(
            f"{name}-default-target-group",
            db_proxy_name=proxy.name,
            connection_pool_config=pool,
            opts=child,
        )
        aws.rds.ProxyTarget(
            f"{name}-primary-target",
            db_proxy_name=proxy.name,
            target_group_name=target_group.name,
            db_instance_identifier=args.db_instance_identifier,
            # Registering the target makes the proxy log in: the secret must hold the password by then.
            opts=ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )

        self.name = proxy.name
        self.arn = proxy.arn
        self.endpoint = proxy.endpoint
        self.role_arn = role.arn
        self.register_outputs({"name": self.name, "arn": self.arn, "endpoint": self.endpoint, "roleArn": self.role_arn})
