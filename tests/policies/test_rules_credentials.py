"""policies/rules/credentials.py: master user name, the proxy's role and secret, IAM authentication."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, Resource, resource_violations, stack_violations
from policy_harness import CLEAN, Ctx, check, clean_setup, trust

from policies.rules import credentials
from policies.rules.credentials import (
    PROXY_IAM_AUTH_REQUIRES_DB_IAM_AUTH,
    PROXY_ROLE_CAN_READ_SECRET,
    RDS_MASTER_USERNAME,
)
from policies.rules.resource_types import IAM_ROLE, IAM_ROLE_POLICY, INSTANCE, PROXY, PROXY_TARGET, SECRET


def _role_policy_doc(doc: dict[str, Any]) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        aws.iam.RolePolicy("proxy-secret", role=ctx.role.id, policy=json.dumps(doc))

    return add


def _managed(arn: str) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        aws.iam.RolePolicyAttachment("proxy-managed", role=ctx.role.name, policy_arn=arn)

    return add


def _customer_policy(actions: list[str]) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        policy = aws.iam.Policy(
            "proxy-policy",
            policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}),
        )
        aws.iam.RolePolicyAttachment("proxy-policy", role=ctx.role.name, policy_arn=policy.arn)

    return add


CASES: list[Case] = [
    ("rds-master-username", "admin", clean_setup(primary={"username": "admin"}), clean_setup(primary={"username": "postgres"})),
    ("rds-master-username", "pg_prefix", clean_setup(primary={"username": "pg_owner"}),
     clean_setup(primary={"username": "orders_owner"})),
    ("rds-master-username", "rdsadmin", clean_setup(primary={"username": "rdsadmin"}), CLEAN),
    ("proxy-role-can-read-secret", "no_role", clean_setup(proxy={"role_arn": ""}), CLEAN),
    ("proxy-role-can-read-secret", "no_policies", clean_setup(role_policy=None),
     clean_setup(role_policy=_managed("arn:aws:iam::aws:policy/SecretsManagerReadWrite"))),
    ("proxy-role-can-read-secret", "wrong_action",
     clean_setup(role_policy=_role_policy_doc(
         {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]})),
     clean_setup(role_policy=_role_policy_doc(
         {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:Get*", "Resource": "*"}]}))),
    ("proxy-role-can-read-secret", "attached_policy",
     clean_setup(role_policy=_customer_policy(["secretsmanager:ListSecrets"])),
     clean_setup(role_policy=_customer_policy(["secretsmanager:GetSecretValue", "kms:Decrypt"]))),
    ("proxy-role-can-read-secret", "untrusted_role", clean_setup(trust_service="ec2.amazonaws.com"), CLEAN),
    ("proxy-iam-auth-requires-db-iam-auth", "db_iam_off",
     clean_setup(primary={"iam_database_authentication_enabled": False}),
     clean_setup(primary={"iam_database_authentication_enabled": False},
                 proxy={"auths": [aws.rds.ProxyAuthArgs(auth_scheme="SECRETS", iam_auth="DISABLED",
                                                         secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:x")]},
                 role_policy=_managed("arn:aws:iam::aws:policy/SecretsManagerReadWrite"))),
    ("proxy-iam-auth-requires-db-iam-auth", "end_to_end_iam",
     clean_setup(primary={"iam_database_authentication_enabled": None},
                 proxy={"default_auth_scheme": "IAM_AUTH", "auths": None}, role_policy=None),
     clean_setup(proxy={"default_auth_scheme": "IAM_AUTH", "auths": None}, role_policy=None)),
]


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad), policy)
    assert_clean(check(good))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(credentials, CASES)


def test_role_policy_with_known_arns_is_verified():
    """With known outputs the secret ARN in the document is compared with the proxy's auth secret."""
    assert check(CLEAN, shape="deployed").violations == []

    def other_secret(ctx: Ctx) -> None:
        other = aws.secretsmanager.Secret("other")
        aws.iam.RolePolicy(
            "proxy-secret", role=ctx.role.id,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": other.arn}]}),
        )

    assert check(clean_setup(role_policy=other_secret), shape="deployed").fired() == {"proxy-role-can-read-secret"}
    # during a first preview the ARNs are unknown: the pack does not guess
    for shape in ("inputs", "planned"):
        assert check(clean_setup(role_policy=other_secret), shape=shape).violations == []


# --- Fast layer: the policies alone, on resource dicts ------------------------------------------------


def test_master_username_rules_in_forms_the_program_does_not_use():
    for bad in ("ADMIN", "Pg_Admin", "9lives", "app-user"):
        assert resource_violations(RDS_MASTER_USERNAME, INSTANCE, {"engine": "aurora-postgresql", "username": bad}), bad
    assert resource_violations(RDS_MASTER_USERNAME, INSTANCE, {"engine": "mysql", "username": "admin"}) == []
    assert resource_violations(RDS_MASTER_USERNAME, INSTANCE, {"engine": "postgres", "username": UNKNOWN}) == []
    assert resource_violations(RDS_MASTER_USERNAME, INSTANCE, {"engine": "postgres", "username": "dba"},
                               config={"extraReservedUsernames": ["DBA"]})


_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-AbCdEf"


def _proxy_stack(statement: dict[str, Any]) -> list[Resource]:
    return [
        Resource(SECRET, "secret", {"arn": _SECRET_ARN}),
        Resource(IAM_ROLE, "role", {"name": "proxy-role", "assumeRolePolicy": trust()}),
        Resource(IAM_ROLE_POLICY, "read", {"role": "proxy-role",
                                           "policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}),
        Resource(PROXY, "proxy", {"name": "orders-proxy", "roleArn": UNKNOWN, "auths": [{"secretArn": _SECRET_ARN}]},
                 {"roleArn": ["role"], "auths": ["secret"]}),
    ]


def test_proxy_role_grant_by_known_names_and_arns():
    grant = {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [_SECRET_ARN]}
    assert stack_violations(PROXY_ROLE_CAN_READ_SECRET, _proxy_stack(grant)) == []
    other = {**grant, "Resource": "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-*"}
    (finding,) = stack_violations(PROXY_ROLE_CAN_READ_SECRET, _proxy_stack(other))
    assert finding.urn is not None and finding.urn.endswith("::role")


def test_end_to_end_iam_needs_iam_on_the_target():
    stack = [
        Resource(INSTANCE, "db", {"identifier": "orders-db", "engine": "postgres"}),
        Resource(PROXY, "proxy", {"name": "orders-proxy", "defaultAuthScheme": "IAM_AUTH"}),
        Resource(PROXY_TARGET, "target", {"dbProxyName": "orders-proxy", "dbInstanceIdentifier": "orders-db"}),
    ]
    (finding,) = stack_violations(PROXY_IAM_AUTH_REQUIRES_DB_IAM_AUTH, stack)
    assert "IAM_AUTH" in finding.message
    stack[0].props["iamDatabaseAuthenticationEnabled"] = True
    assert stack_violations(PROXY_IAM_AUTH_REQUIRES_DB_IAM_AUTH, stack) == []
