"""policies/rules/keys.py: key policies and secret resource policies that open to Principal "*"."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi_aws as aws
import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, resource_violations
from policy_harness import Ctx, check, clean_setup

from policies.rules import keys
from policies.rules.keys import KEY_AND_SECRET_POLICIES_NOT_PUBLIC, KMS_KEY, KMS_KEY_POLICY, SECRET, SECRET_POLICY

_ROOT = {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*",
         "Resource": "*"}


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _public(action: str, condition: dict[str, Any] | None = None, principal: Any = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*",
            **({"Condition": condition} if condition else {})}


def _key_policy(*statements: dict[str, Any]) -> Callable[[Ctx], None]:
    """A separate kms.KeyPolicy on the setup's key (the program writes the policy inline)."""

    def add(ctx: Ctx) -> None:
        aws.kms.KeyPolicy("key-policy", key_id=ctx.key.id, policy=_doc(*statements))

    return add


CASES: list[Case] = [
    ("key-and-secret-policies-not-public", "key_policy_resource_for_everyone",
     clean_setup(extra=_key_policy(_ROOT, _public("kms:Decrypt", principal={"AWS": "*"}))),
     clean_setup(extra=_key_policy(_ROOT, _public("kms:Decrypt", {"StringEquals": {
         "kms:CallerAccount": "123456789012", "kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}})))),
]


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad), policy)
    assert_clean(check(good))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(keys, CASES)


@pytest.mark.parametrize("type_", [KMS_KEY, KMS_KEY_POLICY, SECRET, SECRET_POLICY])
@pytest.mark.parametrize(("statement", "bad"), [
    (_public("kms:*"), True),
    (_public("secretsmanager:GetSecretValue", principal={"AWS": ["arn:aws:iam::123456789012:root", "*"]}), True),
    (_public("kms:Decrypt", {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}), False),
    (_ROOT, False),
    ({**_public("kms:*"), "Effect": "Deny"}, False),
    (_public("kms:Decrypt", principal={"Service": "cloudwatch.amazonaws.com"}), False),
])
def test_public_principal_in_every_policy_resource(type_, statement, bad):
    assert bool(resource_violations(KEY_AND_SECRET_POLICIES_NOT_PUBLIC, type_, {"policy": _doc(statement)})) is bad


def test_default_and_unknown_key_policies_pass():
    assert resource_violations(KEY_AND_SECRET_POLICIES_NOT_PUBLIC, KMS_KEY, {}) == []
    assert resource_violations(KEY_AND_SECRET_POLICIES_NOT_PUBLIC, KMS_KEY, {"policy": UNKNOWN}) == []
