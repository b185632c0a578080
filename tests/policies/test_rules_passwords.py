"""policies/rules/passwords.py: master passwords RDS accepts, literal or from random.RandomPassword."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random
import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, Resource, stack_violations
from policy_harness import Ctx, check, clean_setup

from policies.rules import passwords
from policies.rules.passwords import RANDOM_PASSWORD, RDS_PASSWORD_CHARACTERS
from policies.rules.resource_types import CLUSTER, INSTANCE

RANDOM_INTEGER = "random:index/randomInteger:RandomInteger"


def _second_instance(**password_args: Any) -> Callable[[Ctx], None]:
    """A second, otherwise clean instance whose master password a RandomPassword generates."""

    def add(ctx: Ctx) -> None:
        generated = random.RandomPassword("reports-password", **password_args)
        aws.rds.Instance(
            "reports", identifier="reports-db", engine="postgres", engine_version="15.8", instance_class="db.r6g.large",
            allocated_storage=50, storage_encrypted=True, kms_key_id=ctx.key.arn, username="postgres",
            password=pulumi.Output.secret(generated.result), multi_az=True, publicly_accessible=False,
            vpc_security_group_ids=[ctx.db_sg.id], backup_retention_period=14, deletion_protection=True,
            skip_final_snapshot=False, final_snapshot_identifier="reports-final", iam_database_authentication_enabled=True,
        )

    return add


CASES: list[Case] = [
    ("rds-password-characters", "random_default_specials", clean_setup(extra=_second_instance(length=24)),
     clean_setup(extra=_second_instance(length=24, override_special="!#$%&*()-_=+[]{}<>:?"))),
    ("rds-password-characters", "literal_with_at", clean_setup(primary={"password": "p@ssword-123"}),
     clean_setup(primary={"password": "p#ssword-123"})),
]


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad), policy)
    assert_clean(check(good))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(passwords, CASES)


def _generated(generator: dict[str, Any], db_type: str = INSTANCE, engine: str = "postgres") -> list[Resource]:
    prop = "password" if db_type == INSTANCE else "masterPassword"
    # An unknown the program set is computed from another resource (here a random integer); without a
    # property dependency it would be a provider-computed value the program omitted.
    computed = {k: ["size"] for k, v in generator.items() if v is UNKNOWN}
    inputs = [Resource(RANDOM_INTEGER, "size", {"result": UNKNOWN})] if computed else []
    return [
        *inputs,
        Resource(RANDOM_PASSWORD, "pw", generator, computed),
        Resource(db_type, "db", {"engine": engine, prop: UNKNOWN}, {prop: ["pw"]}),
    ]


@pytest.mark.parametrize(("generator", "bad"), [
    ({"length": 32}, True),  # special defaults to true, with '@'
    ({"length": 32, "special": True, "overrideSpecial": "!#$%"}, False),
    ({"length": 32, "overrideSpecial": "!/#"}, True),
    ({"length": 32, "overrideSpecial": 'a"b'}, True),
    ({"length": 32, "overrideSpecial": " _-"}, True),
    ({"length": 32, "special": False}, False),
    ({"length": 7, "special": False}, True),
    ({"length": 129, "special": False}, True),
    ({"length": 128, "special": False}, False),
    ({"length": UNKNOWN, "special": UNKNOWN}, False),
])
def test_random_password_generators(generator, bad):
    assert bool(stack_violations(RDS_PASSWORD_CHARACTERS, _generated(generator))) is bad


def test_cluster_passwords_are_at_most_41_characters():
    assert stack_violations(RDS_PASSWORD_CHARACTERS, _generated({"length": 64, "special": False}, CLUSTER, "aurora-postgresql"))
    assert stack_violations(RDS_PASSWORD_CHARACTERS, _generated({"length": 40, "special": False}, CLUSTER,
                                                                "aurora-postgresql")) == []


def test_other_engines_and_replicas_are_not_judged():
    assert stack_violations(RDS_PASSWORD_CHARACTERS, _generated({"length": 32}, engine="mysql")) == []
    replica = [Resource(INSTANCE, "r", {"replicateSourceDb": "orders-db", "password": "a@b"})]
    assert stack_violations(RDS_PASSWORD_CHARACTERS, replica) == []


@pytest.mark.parametrize(("password", "bad"), [
    ("correct-horse-battery", False), ("short", True), ("has space in it", True), ('quote"d-password', True),
    ("slash/password", True), ("x" * 129, True), (UNKNOWN, False),
])
def test_literal_passwords(password, bad):
    stack = [Resource(INSTANCE, "db", {"engine": "postgres", "password": password})]
    assert bool(stack_violations(RDS_PASSWORD_CHARACTERS, stack)) is bad
