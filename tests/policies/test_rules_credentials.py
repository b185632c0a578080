"""policies/rules/credentials.py: master user name, the proxy's role, its secret and the key that encrypts it, IAM
authentication."""

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
    """A customer managed policy allowing *actions* on the setup's secret and key, attached to the proxy's role."""

    def add(ctx: Ctx) -> None:
        policy = aws.iam.Policy(
            "proxy-policy",
            policy=pulumi.Output.json_dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions,
                                                         "Resource": [ctx.secret.arn, ctx.key.arn]}]}),
        )
        aws.iam.RolePolicyAttachment("proxy-policy", role=ctx.role.name, policy_arn=policy.arn)

    return add


def _named_grants(secret_actions: list[str], key_actions: list[str] | None = None,
                  condition: dict[str, Any] | None = None) -> Callable[[Ctx], None]:
    """An inline role policy: *secret_actions* on the setup's secret, *key_actions* on its key."""

    def add(ctx: Ctx) -> None:
        statements: list[Any] = [{"Effect": "Allow", "Action": secret_actions, "Resource": ctx.secret.arn}]
        if key_actions:
            statements.append({"Effect": "Allow", "Action": key_actions, "Resource": ctx.key.arn,
                               **({"Condition": condition} if condition else {})})
        aws.iam.RolePolicy("proxy-secret", role=ctx.role.id,
                           policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements}))

    return add


_LITERAL_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"


CASES: list[Case] = [
    ("rds-master-username", "admin", clean_setup(primary={"username": "admin"}), clean_setup(primary={"username": "postgres"})),
    ("rds-master-username", "pg_prefix", clean_setup(primary={"username": "pg_owner"}),
     clean_setup(primary={"username": "orders_owner"})),
    ("rds-master-username", "rdsadmin", clean_setup(primary={"username": "rdsadmin"}), CLEAN),
    ("proxy-role-can-read-secret", "no_role", clean_setup(proxy={"role_arn": ""}), CLEAN),
    ("proxy-role-can-read-secret", "no_policies", clean_setup(role_policy=None), CLEAN),
    ("proxy-role-can-read-secret", "untrusted_role", clean_setup(trust_service="ec2.amazonaws.com"), CLEAN),
    ("proxy-role-can-decrypt-secret", "decrypt_through_alias_arn",
     clean_setup(role_policy=_role_policy_doc({"Version": "2012-10-17", "Statement": [
         {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*", "Condition": {
             "StringEquals": {"aws:ResourceTag/app": "orders"}}},
         {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:us-east-1:123456789012:alias/orders"}]})),
     clean_setup(role_policy=_role_policy_doc({"Version": "2012-10-17", "Statement": [
         {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*", "Condition": {
             "StringEquals": {"aws:ResourceTag/app": "orders"}}},
         {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*", "Condition": {
             "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}}]}))),
    ("proxy-iam-auth-requires-db-iam-auth", "end_to_end_iam",
     clean_setup(primary={"iam_database_authentication_enabled": None},
                 proxy={"default_auth_scheme": "IAM_AUTH", "auths": None}, role_policy=None),
     clean_setup(proxy={"default_auth_scheme": "IAM_AUTH", "auths": None}, role_policy=None)),
]

#: Cases whose documents are built from computed ARNs: judged with known outputs (a deployed stack); during a
#: first preview those documents are unknown and the pack does not guess.
KNOWN_CASES: list[Case] = [
    ("proxy-role-can-read-secret", "wrong_action", clean_setup(role_policy=_named_grants(["kms:Decrypt"])),
     clean_setup(role_policy=_named_grants(["secretsmanager:Get*"], ["kms:Decrypt"]))),
    ("proxy-role-can-read-secret", "attached_policy",
     clean_setup(role_policy=_customer_policy(["secretsmanager:ListSecrets", "kms:Decrypt"])),
     clean_setup(role_policy=_customer_policy(["secretsmanager:GetSecretValue", "kms:Decrypt"]))),
    ("proxy-role-can-decrypt-secret", "no_kms_decrypt", clean_setup(role_policy=_named_grants(["secretsmanager:GetSecretValue"])),
     clean_setup(role_policy=_named_grants(["secretsmanager:GetSecretValue"], ["kms:Decrypt"],
                                           {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}))),
    ("proxy-role-can-decrypt-secret", "decrypt_only_via_rds",
     clean_setup(role_policy=_named_grants(["secretsmanager:GetSecretValue"], ["kms:Decrypt"],
                                           {"StringEquals": {"kms:ViaService": "rds.us-east-1.amazonaws.com"}})),
     CLEAN),
]

#: Legitimate designs around IAM authentication: no finding at all.
IAM_CONTROLS = [
    # IAM between clients and proxy, password login from proxy to database (issue 8 section 3)
    clean_setup(primary={"iam_database_authentication_enabled": False}),
    clean_setup(primary={"iam_database_authentication_enabled": False},
                proxy={"auths": [aws.rds.ProxyAuthArgs(auth_scheme="SECRETS", iam_auth="DISABLED", secret_arn=_LITERAL_SECRET)]},
                role_policy=_role_policy_doc({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": _LITERAL_SECRET}]})),
]


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad), policy)
    assert_clean(check(good))


@pytest.mark.parametrize(("policy", "case", "bad", "good"), KNOWN_CASES, ids=case_ids(KNOWN_CASES))
def test_with_known_outputs_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad, shape="deployed"), policy)
    assert_clean(check(good, shape="deployed"))


@pytest.mark.parametrize("program", IAM_CONTROLS, ids=["iam_clients_password_database", "passwords_only"])
def test_iam_from_clients_with_password_login_to_the_database_passes(program):
    assert_clean(check(program))


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
