"""policies/rules/iam.py: least privilege on database logins, secrets and keys; rds-db:connect resources that can match."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi_aws as aws
import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, Resource, resource_violations, stack_violations
from policy_harness import CLEAN, Ctx, check, clean_setup

from policies.rules import iam
from policies.rules.iam import (
    IAM_DB_CONNECT_LEAST_PRIVILEGE,
    IAM_DB_CONNECT_RESOURCE,
    IAM_KMS_LEAST_PRIVILEGE,
    IAM_SECRETS_LEAST_PRIVILEGE,
)
from policies.rules.resource_types import INSTANCE, PROXY, SECRET

IAM_POLICY = "aws:iam/policy:Policy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
_ACCOUNT = "arn:aws:rds-db:us-east-1:123456789012"
_PROXY_USER = f"{_ACCOUNT}:dbuser:prx-0123456789abcdef01234567/postgres"


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def _app_policy(*statements: dict[str, Any]) -> Callable[[Ctx], None]:
    """A customer managed policy for the application's role (a form the program writes differently)."""

    def add(ctx: Ctx) -> None:
        aws.iam.Policy("app-access", policy=_doc(*statements))

    return add


def _app_role(**role: Any) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        aws.iam.Role("app", assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}), **role)

    return add


CASES: list[Case] = [
    ("iam-db-connect-least-privilege", "any_proxy_any_user",
     clean_setup(extra=_app_policy(_allow("rds-db:connect", f"{_ACCOUNT}:dbuser:prx-*/*"))),
     clean_setup(extra=_app_policy(_allow("rds-db:connect", _PROXY_USER)))),
    ("iam-secrets-least-privilege", "managed_read_write_on_role",
     clean_setup(extra=_app_role(managed_policy_arns=["arn:aws:iam::aws:policy/SecretsManagerReadWrite"])),
     clean_setup(extra=_app_role(managed_policy_arns=["arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"]))),
    ("iam-kms-least-privilege", "kms_star_inline",
     clean_setup(extra=_app_role(inline_policies=[{"name": "keys", "policy": _doc(_allow("kms:*", "*"))}])),
     clean_setup(extra=_app_role(inline_policies=[{"name": "keys", "policy": _doc(_allow(
         "kms:Decrypt", "*", Condition={"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}))}]))),
    ("iam-db-connect-resource", "proxy_name_instead_of_resource_id",
     clean_setup(extra=_app_policy(_allow("rds-db:connect", f"{_ACCOUNT}:dbuser:orders-proxy/postgres"))),
     clean_setup(extra=_app_policy(_allow("rds-db:connect", _PROXY_USER)))),
]


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad), policy)
    assert_clean(check(good))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(iam, CASES)


def test_the_clean_setup_passes():
    assert_clean(check(CLEAN))


# --- Fast layer ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("statement", "bad"), [
    (_allow("rds-db:connect", "*"), True),
    (_allow("rds-db:*", f"{_ACCOUNT}:dbuser:*/*"), True),
    (_allow(["rds-db:connect"], [f"{_ACCOUNT}:dbuser:prx-abc/*"]), True),  # any user, the master user included
    (_allow("rds-db:connect", f"{_ACCOUNT}:dbuser:db-ABC/app_*"), True),
    (_allow("rds-db:connect", "arn:aws:rds-db:*:*:*"), True),
    (_allow("*", "*"), True),
    ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, True),
    (_allow("rds-db:connect", _PROXY_USER), False),
    (_allow("rds:Describe*", "*"), False),
    ({"Effect": "Deny", "Action": "rds-db:connect", "Resource": "*"}, False),
])
def test_db_connect_scope(statement, bad):
    found = resource_violations(IAM_DB_CONNECT_LEAST_PRIVILEGE, IAM_POLICY, {"policy": _doc(statement)})
    assert bool(found) is bad


@pytest.mark.parametrize(("statement", "bad"), [
    (_allow("secretsmanager:GetSecretValue", "*"), True),
    (_allow("secretsmanager:*", "arn:aws:secretsmanager:*:*:secret:*"), True),
    (_allow("secretsmanager:Get*", "arn:aws:secretsmanager:us-east-1:123456789012:secret:*"), True),
    ({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "NotResource": "arn:aws:secretsmanager:*:*:secret:x"},
     True),
    (_allow("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds/orders/master-*"),
     False),
    (_allow("secretsmanager:GetSecretValue", "*", Condition={"StringEquals": {"aws:ResourceTag/app": "orders"}}), False),
    (_allow("secretsmanager:ListSecrets", "*"), False),
])
def test_secrets_scope(statement, bad):
    assert bool(resource_violations(IAM_SECRETS_LEAST_PRIVILEGE, IAM_POLICY, {"policy": _doc(statement)})) is bad


def test_broad_managed_policies_in_every_attachment_form():
    arn = "arn:aws:iam::aws:policy/SecretsManagerReadWrite"
    assert resource_violations(IAM_SECRETS_LEAST_PRIVILEGE, ROLE_POLICY_ATTACHMENT, {"role": "r", "policyArn": arn})
    assert resource_violations(IAM_SECRETS_LEAST_PRIVILEGE, ROLE, {"managedPolicyArns": [arn]})
    admin = {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    for policy in (IAM_SECRETS_LEAST_PRIVILEGE, IAM_KMS_LEAST_PRIVILEGE, IAM_DB_CONNECT_LEAST_PRIVILEGE):
        assert resource_violations(policy, ROLE_POLICY_ATTACHMENT, admin), policy
    customer = {"role": "r", "policyArn": "arn:aws:iam::123456789012:policy/SecretsManagerReadWrite"}
    assert resource_violations(IAM_SECRETS_LEAST_PRIVILEGE, ROLE_POLICY_ATTACHMENT, customer) == []
    assert resource_violations(IAM_SECRETS_LEAST_PRIVILEGE, ROLE_POLICY_ATTACHMENT, {"policyArn": UNKNOWN}) == []


@pytest.mark.parametrize(("statement", "bad"), [
    (_allow("kms:*", "*"), True),
    (_allow("kms:*", "*", Condition={"StringEquals": {"aws:PrincipalTag/team": "db"}}), True),
    (_allow("kms:Decrypt", "arn:aws:kms:*:*:key/*"), True),
    (_allow(["kms:Decrypt", "kms:GenerateDataKey"], "*"), True),
    (_allow("kms:Decrypt", "*", Condition={"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}),
     False),
    (_allow("kms:*", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"), False),
    (_allow("kms:ListAliases", "*"), False),
])
def test_kms_scope(statement, bad):
    assert bool(resource_violations(IAM_KMS_LEAST_PRIVILEGE, IAM_POLICY, {"policy": _doc(statement)})) is bad


def test_documents_unknown_during_a_preview_are_not_judged():
    for policy in (IAM_SECRETS_LEAST_PRIVILEGE, IAM_KMS_LEAST_PRIVILEGE, IAM_DB_CONNECT_LEAST_PRIVILEGE):
        assert resource_violations(policy, IAM_POLICY, {"policy": UNKNOWN}) == []


def _connect_stack(resource: str, proxy: dict[str, Any], extra: list[Resource] = ()) -> list[Resource]:  # type: ignore[assignment]
    return [
        *extra,
        Resource(PROXY, "proxy", {"name": "orders-proxy", **proxy}, {"auths": [r.name for r in extra]}),
        Resource(IAM_POLICY, "connect", {"policy": _doc(_allow("rds-db:connect", resource))}),
    ]


@pytest.mark.parametrize(("resource", "bad"), [
    ("arn:aws:rds:us-east-1:123456789012:db-proxy:prx-0123456789abcdef01234567", True),  # the proxy's ARN
    (f"{_ACCOUNT}:dbuser:orders-proxy/postgres", True),  # its name
    (f"{_ACCOUNT}:dbuser:orders-db/postgres", True),  # an instance identifier
    (f"{_ACCOUNT}:dbuser:prx-0123456789abcdef01234567/app_user", True),  # not the user the proxy signs in as
    (f"{_ACCOUNT}:dbuser:prx-0123456789abcdef01234567", True),  # no user at all
    (_PROXY_USER, False),
    (f"{_ACCOUNT}:dbuser:db-ABCDEFGHIJKL01234/orders_reader", False),  # a replica's direct IAM path
    (f"{_ACCOUNT}:dbuser:cluster-ABCDEFGHIJKL01234/reader", False),
])
def test_connect_resources_that_can_match(resource, bad):
    auth = {"auths": [{"authScheme": "SECRETS", "secretArn": UNKNOWN, "iamAuth": "REQUIRED"}]}
    managed = Resource(INSTANCE, "db", {"username": "postgres", "manageMasterUserPassword": True, "engine": "postgres"})
    assert bool(stack_violations(IAM_DB_CONNECT_RESOURCE, _connect_stack(resource, auth, [managed]))) is bad


def test_connect_user_is_not_judged_when_the_proxy_users_are_unknown():
    auth = {"auths": [{"authScheme": "SECRETS", "secretArn": UNKNOWN}]}
    secret = Resource(SECRET, "secret", {"name": "orders"})
    resource = f"{_ACCOUNT}:dbuser:prx-0123456789abcdef01234567/app_user"
    assert stack_violations(IAM_DB_CONNECT_RESOURCE, _connect_stack(resource, auth, [secret])) == []
    named = {"auths": [{"authScheme": "SECRETS", "secretArn": UNKNOWN, "username": "app_user"}]}
    assert stack_violations(IAM_DB_CONNECT_RESOURCE, _connect_stack(resource, named, [secret])) == []
    end_to_end = {"defaultAuthScheme": "IAM_AUTH"}
    assert stack_violations(IAM_DB_CONNECT_RESOURCE, _connect_stack(resource, end_to_end)) == []
