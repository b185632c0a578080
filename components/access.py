"""Access: the IAM policy that lets application roles connect with IAM auth, through the proxy and to replicas.

The proxy requires IAM authentication, so a client needs ``rds-db:connect`` on
``arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-<id>/<user>`` where ``prx-<id>`` is
the proxy's resource id (the last part of its ARN), not its name and not the
instance's ``db-...`` resource id.

Reads go to the read replicas directly (RDS Proxy cannot target a replica of an
RDS instance), and there the token is checked by the instance itself: the
resource is ``arn:aws:rds-db:REGION:ACCOUNT:dbuser:<DbiResourceId>/<reader>`` with
the replica's ``db-...`` resource id.  The two users differ on purpose: the proxy
maps IAM identities to the user of its secret (the master user, which logs in to
the database with the secret's password), while a direct IAM login needs a
database user granted ``rds_iam``, and in RDS for PostgreSQL such a user can no
longer log in with a password, so the master user must never get it.  The reader
user is created once with ``dbclient/reader_role.sql``.  One policy covers both,
so a role that can use the proxy can also use the read path.  Attach the
exported policy to Lambda execution roles and ECS task roles.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

_PROXY_ARN_RE = re.compile(
    r"^arn:(?P<partition>[a-z-]+):rds:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):db-proxy:(?P<id>prx-[a-z0-9]+)$"
)
_INSTANCE_ARN_RE = re.compile(r"^arn:(?P<partition>[a-z-]+):rds:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):db:[a-z][a-z0-9-]*$")
# DbiResourceId: "db-" and upper-case letters and digits.  The identifier or the ARN would give an
# ARN that IAM accepts and that never matches a connection.
_RESOURCE_ID_RE = re.compile(r"^db-[A-Z0-9]+$")


def connect_resource_arn(proxy_arn: str, db_user: str) -> str:
    """``rds-db:connect`` resource for *db_user* through the proxy whose ARN is *proxy_arn*."""
    match = _PROXY_ARN_RE.match(proxy_arn)
    if not match:
        raise ValueError(f"not an RDS Proxy ARN: {proxy_arn!r} (expected arn:aws:rds:REGION:ACCOUNT:db-proxy:prx-...)")
    return f"arn:{match['partition']}:rds-db:{match['region']}:{match['account']}:dbuser:{match['id']}/{db_user}"


def instance_connect_resource_arn(instance_arn: str, resource_id: str, db_user: str) -> str:
    """``rds-db:connect`` resource for *db_user* straight to the instance (a read replica) whose ARN is
    *instance_arn* and whose DbiResourceId is *resource_id*."""
    match = _INSTANCE_ARN_RE.match(instance_arn)
    if not match:
        raise ValueError(f"not an RDS instance ARN: {instance_arn!r} (expected arn:aws:rds:REGION:ACCOUNT:db:IDENTIFIER)")
    if not _RESOURCE_ID_RE.match(resource_id):
        raise ValueError(f"not a DbiResourceId: {resource_id!r} (expected db-ABC123...)")
    return f"arn:{match['partition']}:rds-db:{match['region']}:{match['account']}:dbuser:{resource_id}/{db_user}"


def connect_policy_document(resource_arn: str, replica_resource_arns: Sequence[str] = ()) -> str:
    statements = [
        {
            "Sid": "ConnectThroughRdsProxyWithIamAuth",
            "Effect": "Allow",
            "Action": ["rds-db:connect"],
            "Resource": [resource_arn],
        }
    ]
    if replica_resource_arns:
        statements.append(
            {
                "Sid": "ConnectToReadReplicasWithIamAuth",
                "Effect": "Allow",
                "Action": ["rds-db:connect"],
                "Resource": list(replica_resource_arns),
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


@dataclass(frozen=True)
class AccessArgs:
    prefix: str
    proxy_arn: pulumi.Input[str]
    #: The user the proxy logs in as (its secret's user, the master user).
    db_user: str
    #: The rds_iam user of the direct read path; the replica statements name it, never db_user.
    reader_user: str
    #: ARNs and DbiResourceIds (``db-...``) of the read replicas, in the same order (replica.py).
    replica_arns: pulumi.Input[Sequence[str]] = ()
    replica_resource_ids: pulumi.Input[Sequence[str]] = ()
    tags: dict[str, str] = field(default_factory=dict)


class Access(pulumi.ComponentResource):
    connect_resource_arn: pulumi.Output[str]
    #: One per replica, in the order of ``replica_arns``.
    replica_connect_resource_arns: pulumi.Output[list[str]]
    connect_policy_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AccessArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("resilient-rds:access:Access", name, None, opts)
        resource_arn = pulumi.Output.from_input(args.proxy_arn).apply(lambda arn: connect_resource_arn(arn, args.db_user))

        def replica_resources(values: list[Sequence[str]]) -> list[str]:
            arns, resource_ids = values
            if len(arns) != len(resource_ids):
                raise ValueError(f"AccessArgs: {len(arns)} replica ARNs but {len(resource_ids)} resource ids")
            return [instance_connect_resource_arn(a, r, args.reader_user) for a, r in zip(arns, resource_ids, strict=True)]

        replica_arns: pulumi.Output[list[str]] = pulumi.Output.all(
            pulumi.Output.from_input(args.replica_arns), pulumi.Output.from_input(args.replica_resource_ids)
        ).apply(replica_resources)
        document = pulumi.Output.all(resource_arn, replica_arns).apply(
            lambda values: connect_policy_document(values[0], values[1])
        )
        policy = aws.iam.Policy(
            f"{name}-connect-policy",
            # Name and description stay what they were before replicas were covered: both force a
            # replacement, and the fixed name would collide with the policy being replaced (and roles
            # outside this stack would lose the attachment).
            name=f"{args.prefix}-rds-proxy-connect",
            description=f"IAM-authenticated connections as {args.db_user} through the {args.prefix} RDS Proxy",
            policy=document,
            tags={**args.tags, "Name": f"{args.prefix}-rds-proxy-connect"},
            opts=ResourceOptions(parent=self),
        )
        self.connect_resource_arn = resource_arn
        self.replica_connect_resource_arns = replica_arns
        self.connect_policy_arn = policy.arn
        self.register_outputs(
            {
                "connectResourceArn": self.connect_resource_arn,
                "replicaConnectResourceArns": self.replica_connect_resource_arns,
                "connectPolicyArn": self.connect_policy_arn,
            }
        )
