"""Credentials: the master password, kept in Secrets Manager under a customer KMS key.

The password exists only as a secret ``Output``: it goes to the RDS instance and
into the secret version, never into a log, an exception or a stack output.  RDS
Proxy reads ``username`` and ``password`` from the secret; ``engine``, ``host``,
``port`` and ``dbname`` complete the shape that Secrets Manager's RDS rotation
functions expect.

The secret version needs the database host and the database needs the password,
so the version is written by :meth:`Credentials.publish_connection` once the
database exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random
from pulumi import ResourceOptions

#: RDS master passwords may be any printable ASCII except '/', '"', '@' and space.
PASSWORD_SPECIAL_CHARACTERS = "!#$%&*()-_=+[]{}<>:?.,;^~"
PASSWORD_LENGTH = 40


def account_root_key_policy(account_id: str, partition: str, extra_statements: list[dict[str, object]]) -> str:
    """A KMS key policy: the account administers the key (IAM decides who uses it), plus *extra_statements*."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministersKey",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                *extra_statements,
            ],
        }
    )


@dataclass(frozen=True)
class CredentialsArgs:
    prefix: str
    username: str
    db_name: str
    engine: str
    #: Days Secrets Manager keeps a deleted secret (0 deletes at once, for throw-away stacks).
    recovery_window_days: int
    tags: dict[str, str] = field(default_factory=dict)


class Credentials(pulumi.ComponentResource):
    kms_key_arn: pulumi.Output[str]
    secret_arn: pulumi.Output[str]
    username: str
    password: pulumi.Output[str]
    secret_version: aws.secretsmanager.SecretVersion | None

    def __init__(self, name: str, args: CredentialsArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("resilient-rds:credentials:Credentials", name, None, opts)
        self._name = name
        self._args = args
        child = ResourceOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self))

        key = aws.kms.Key(
            f"{name}-kms-key",
            description=f"{args.prefix}: encrypts the database master credentials secret",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(identity.account_id, partition.partition).apply(
                lambda v: account_root_key_policy(v[0], v[1], [])
            ),
            tags={**args.tags, "Name": f"{args.prefix}-credentials"},
            opts=child,
        )
        aws.kms.Alias(f"{name}-kms-alias", name=f"alias/{args.prefix}-credentials", target_key_id=key.key_id, opts=child)
        password = random.RandomPassword(
            f"{name}-master-password",
            length=PASSWORD_LENGTH,
            special=True,
            override_special=PASSWORD_SPECIAL_CHARACTERS,
            min_lower=2,
            min_upper=2,
            min_numeric=2,
            min_special=2,
            opts=child,
        )
        secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            name=f"rds/{args.prefix}/master",
            description=f"{args.prefix}: master credentials of the RDS for PostgreSQL instance (read by RDS Proxy)",
            kms_key_id=key.arn,
            recovery_window_in_days=args.recovery_window_days,
            tags={**args.tags, "Name": f"{args.prefix}-master-credentials"},
            opts=child,
        )

        self.kms_key_arn = key.arn
        self.secret_arn = secret.arn
        self.username = args.username
        self.password = pulumi.Output.secret(password.result)
        self.secret_version = None
        self._secret = secret
        self.register_outputs({"kmsKeyArn": self.kms_key_arn, "secretArn": self.secret_arn})

    def publish_connection(self, host: pulumi.Input[str], port: pulumi.Input[int]) -> aws.secretsmanager.SecretVersion:
        """Write the secret's value once the database's host is known."""
        if self.secret_version is not None:
            raise RuntimeError("publish_connection() was already called")
        args = self._args

        def secret_json(values: list[object]) -> str:
            return json.dumps(
                {
                    "username": args.username,
                    "password": values[0],
                    "engine": args.engine,
                    "host": values[1],
                    "port": values[2],
                    "dbname": args.db_name,
                }
            )

        secret_string: pulumi.Output[str] = pulumi.Output.all(self.password, host, port).apply(secret_json)
        # Secret already (the password is), but stated so no refactoring can drop it.
        secret_value: pulumi.Output[str] = pulumi.Output.secret(secret_string)
        self.secret_version = aws.secretsmanager.SecretVersion(
            f"{self._name}-secret-version",
            secret_id=self._secret.id,
            secret_string=secret_value,
            opts=ResourceOptions(parent=self),
        )
        return self.secret_version
