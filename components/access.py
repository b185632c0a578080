"""Access: the IAM policy that lets application roles connect through the proxy.

The proxy requires IAM authentication, so a client needs ``rds-db:connect`` on
``arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-<id>/<user>`` where ``prx-<id>`` is
the proxy's resource id (the last part of its ARN), not its name and not the
instance's ``db-...`` resource id.  Attach the exported policy to Lambda
execution roles and ECS task roles.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

_PROXY_ARN_RE = re.compile(
    r"^arn:(?P<partition>[a-z-]+):rds:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):db-proxy:(?P<id>prx-[a-z0-9]+)$"
)


def connect_resource_arn(proxy_arn: str, db_user: str) -> str:
    """``rds-db:connect`` resource for *db_user* through the proxy whose ARN is *proxy_arn*."""
    match = _PROXY_ARN_RE.match(proxy_arn)
    if not match:
        raise ValueError(f"not an RDS Proxy ARN: {proxy_arn!r} (expected arn:aws:rds:REGION:ACCOUNT:db-proxy:prx-...)")
    return f"arn:{match['partition']}:rds-db:{match['region']}:{match['account']}:dbuser:{match['id']}/{db_user}"


def connect_policy_document(resource_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ConnectThroughRdsProxyWithIamAuth",
                    "Effect": "Allow",
                    "Action": ["rds-db:connect"],
                    "Resource": [resource_arn],
                }
            ],
        }
    )


@dataclass(frozen=True)
class AccessArgs:
    prefix: str
    proxy_arn: pulumi.Input[str]
    db_user: str
    tags: dict[str, str] = field(default_factory=dict)


class Access(pulumi.ComponentResource):
    connect_resource_arn: pulumi.Output[str]
    connect_policy_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AccessArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("resilient-rds:access:Access", name, None, opts)
        resource_arn = pulumi.Output.from_input(args.proxy_arn).apply(lambda arn: connect_resource_arn(arn, args.db_user))
        policy = aws.iam.Policy(
            f"{name}-connect-policy",
            name=f"{args.prefix}-rds-proxy-connect",
            description=f"IAM-authenticated connections as {args.db_user} through the {args.prefix} RDS Proxy",
            policy=resource_arn.apply(connect_policy_document),
            tags={**args.tags, "Name": f"{args.prefix}-rds-proxy-connect"},
            opts=ResourceOptions(parent=self),
        )
        self.connect_resource_arn = resource_arn
        self.connect_policy_arn = policy.arn
        self.register_outputs({"connectResourceArn": self.connect_resource_arn, "connectPolicyArn": self.connect_policy_arn})
