"""Mutation corpus for reachability, subnet groups and consumers (issue 8 section 4, classes 2, 7, part of 9).

Every defect is written in a form the repository's own program does not use (it declares
``aws.vpc.SecurityGroupIngressRule`` between groups, TCP 5432, a Lambda with vpcConfig wired to
the proxy): inline blocks, ``aws.ec2.SecurityGroupRule``, ``-1``/``all``/numeric protocols, port
ranges, IPv6, prefix lists, self references, an app group on the instance, no group at all,
hard-coded host names, ECS task definitions.  Each must raise a new mandatory finding of the
expected policy (prod config) compared with the clean setup; each control must have no mandatory
finding at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from tests.policies.policy_harness import SHAPES, SUBNETS, VPC, Ctx, check, clean_setup

Program = Callable[[], None]
Hook = Callable[[Ctx], None]

# --- hooks ---------------------------------------------------------------------------------------


def _sg_rule(name: str, **kwargs: Any) -> Hook:
    """An ``aws.ec2.SecurityGroupRule`` into the database group (the legacy rule resource)."""

    def hook(ctx: Ctx) -> None:
        args = {k: (v(ctx) if callable(v) else v) for k, v in kwargs.items()}
        aws.ec2.SecurityGroupRule(name, type="ingress", security_group_id=ctx.db_sg.id, **args)

    return hook


def _vpc_rule(name: str, into: Callable[[Ctx], Any] = lambda c: c.db_sg.id, **kwargs: Any) -> Hook:
    """An ``aws.vpc.SecurityGroupIngressRule`` (by default into the database group)."""

    def hook(ctx: Ctx) -> None:
        args = {k: (v(ctx) if callable(v) else v) for k, v in kwargs.items()}
        aws.vpc.SecurityGroupIngressRule(name, security_group_id=into(ctx), **args)

    return hook


def _lambda(
    name: str,
    variables: Callable[[Ctx], dict[str, Any]],
    *,
    in_vpc: bool = True,
    own_group: bool = False,
) -> Hook:
    """A function in the app group (or, with *own_group*, in a group of its own that nothing admits)."""

    def hook(ctx: Ctx) -> None:
        group = aws.ec2.SecurityGroup(f"{name}-sg", vpc_id=VPC, description="function") if own_group else ctx.app_sg
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
        )
        aws.lambda_.Function(
            name,
            role=role.arn,
            runtime="python3.12",
            handler="app.handler",
            code=pulumi.AssetArchive({"app.py": pulumi.StringAsset("def handler(event, context):\n    return {}\n")}),
            vpc_config={"subnet_ids": SUBNETS, "security_group_ids": [group.id]} if in_vpc else None,
            environment={"variables": variables(ctx)},
        )

    return hook


def _task(name: str, environment: Callable[[Ctx], list[dict[str, Any]]], secrets: bool = False) -> Hook:
    def hook(ctx: Ctx) -> None:
        container: dict[str, Any] = {
            "name": "orders-api",
            "image": "public.ecr.aws/docker/library/python:3.12",
            "essential": True,
            "environment": environment(ctx),
        }
        if secrets:
            container["secrets"] = [{"name": "PGPASSWORD", "valueFrom": ctx.secret.arn}]
        aws.ecs.TaskDefinition(
            name,
            family=name,
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu="256",
            memory="512",
            container_definitions=pulumi.Output.json_dumps([container]),
        )

    return hook


def _literal_task(name: str, host: str) -> Hook:
    def hook(ctx: Ctx) -> None:
        container = {
            "name": "worker",
            "image": "worker:1",
            "essential": True,
            "environment": [{"name": "PGHOST", "value": host}, {"name": "PGPORT", "value": "5432"}],
        }
        aws.ecs.TaskDefinition(name, family=name, container_definitions=json.dumps([container]))

    return hook


def _subnet_group(name: str, subnets: Callable[[Ctx], list[Any]]) -> Hook:
    def hook(ctx: Ctx) -> None:
        aws.rds.SubnetGroup(name, subnet_ids=subnets(ctx))

    return hook


def _subnets_in(prefix: str, *zones: str) -> Callable[[Ctx], list[Any]]:
    def make(ctx: Ctx) -> list[Any]:
        return [
            aws.ec2.Subnet(f"{prefix}-{i}", vpc_id=VPC, cidr_block=f"10.0.{i}.0/24", availability_zone=zone).id
            for i, zone in enumerate(zones)
        ]

    return make


def _program_app_group_on_instance() -> None:
    """The instance carries the web tier's group, whose own ingress (the tier's self rule on every
    protocol, harmless on the web servers) now opens the database to every web server."""
    web = aws.ec2.SecurityGroup("web", vpc_id=VPC, description="web tier")
    aws.vpc.SecurityGroupIngressRule(
        "web-internal", security_group_id=web.id, referenced_security_group_id=web.id, ip_protocol="-1"
    )
    clean_setup(primary={"vpc_security_group_ids": [web.id]})()


def _program_in_default_group() -> None:
    """The database attached to the VPC's default group, adopted with aws.ec2.DefaultSecurityGroup."""
    default = aws.ec2.DefaultSecurityGroup(
        "default",
        vpc_id=VPC,
        ingress=[{"protocol": "-1", "self": True, "from_port": 0, "to_port": 0}],
        egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
    )
    clean_setup(primary={"vpc_security_group_ids": [default.id]})()


def _combine(*hooks: Hook) -> Hook:
    def hook(ctx: Ctx) -> None:
        for h in hooks:
            h(ctx)

    return hook


class Extra:
    """A case that only adds resources to the clean setup (``clean_setup(extra=hook)``).

    Called, it is the whole program, like every other case.  The test also runs all such cases of a
    list together in one program (their resource names are distinct) and attributes each finding by
    *marker*, the resource the finding must name: one program run per shape instead of one per case.
    """

    def __init__(self, hook: Hook, marker: str) -> None:
        self.hook = hook
        self.marker = marker
        self._program = clean_setup(extra=hook)

    def __call__(self) -> None:
        self._program()


LEGIT_LAMBDA = _lambda(
    "orders-fn",
    lambda c: {"DB_HOST": c.proxy.endpoint, "DB_READER_HOST": c.replica.address, "DB_NAME": "orders", "DB_PORT": "5432"},
)

# --- the corpus ----------------------------------------------------------------------------------

DEFECTS: list[tuple[str, Program, str]] = [
    # Reachability: every way to write "the app tier reaches the database directly".
    (
        "inline-from-app-group",
        clean_setup(
            db_sg_ingress=lambda app: [{"protocol": "tcp", "from_port": 5432, "to_port": 5432, "security_groups": [app.id]}]
        ),
        "rds-ingress-only-from-proxy",
    ),
    (
        "sg-rule-port-range-from-app",
        Extra(
            _sg_rule(
                "db-from-app-range", protocol="tcp", from_port=5000, to_port=6000, source_security_group_id=lambda c: c.app_sg.id
            ),
            "db-from-app-range",
        ),
        "rds-ingress-only-from-proxy",
    ),
    (
        "sg-rule-numeric-tcp-all-ports",
        Extra(
            _sg_rule("db-from-app-6", protocol="6", from_port=0, to_port=65535, source_security_group_id=lambda c: c.app_sg.id),
            "db-from-app-6",
        ),
        "rds-ingress-only-from-proxy",
    ),
    (
        "vpc-rule-all-protocols-from-app",
        Extra(
            _vpc_rule("db-from-app-all", ip_protocol="-1", referenced_security_group_id=lambda c: c.app_sg.id), "db-from-app-all"
        ),
        "rds-ingress-only-from-proxy",
    ),
    (
        "sg-rule-self-all",
        Extra(_sg_rule("db-self", protocol="all", from_port=0, to_port=65535, self=True), "db-self"),
        "rds-ingress-only-from-proxy",
    ),
    (
        "inline-self-minus-one",
        clean_setup(db_sg_ingress=lambda app: [{"protocol": "-1", "from_port": 0, "to_port": 0, "self": True}]),
        "rds-ingress-only-from-proxy",
    ),
    (
        "vpc-rule-self-reference",
        Extra(
            _vpc_rule(
                "db-from-db", ip_protocol="tcp", from_port=5432, to_port=5432, referenced_security_group_id=lambda c: c.db_sg.id
            ),
            "db-from-db",
        ),
        "rds-ingress-only-from-proxy",
    ),
    ("app-group-attached-to-instance", _program_app_group_on_instance, "rds-ingress-only-from-proxy"),
    ("no-security-group", clean_setup(primary={"vpc_security_group_ids": None}), "rds-security-groups-set"),
    ("replica-no-security-group", clean_setup(replica={"vpc_security_group_ids": []}), "rds-security-groups-set"),
    ("default-security-group-resource", _program_in_default_group, "rds-not-in-default-security-group"),
    # Address-based access.
    (
        "vpc-rule-ipv6-world",
        Extra(_vpc_rule("db-from-v6", ip_protocol="tcp", from_port=5432, to_port=5432, cidr_ipv6="::/0"), "db-from-v6"),
        "rds-no-cidr-ingress",
    ),
    (
        "vpc-rule-prefix-list",
        Extra(
            _vpc_rule("db-from-pl", ip_protocol="tcp", from_port=5432, to_port=5432, prefix_list_id="pl-0123456789abcdef0"),
            "db-from-pl",
        ),
        "rds-no-cidr-ingress",
    ),
    (
        "inline-ipv6-all-protocols",
        clean_setup(
            db_sg_ingress=lambda app: [{"protocol": "-1", "from_port": 0, "to_port": 0, "ipv6_cidr_blocks": ["2001:db8::/32"]}]
        ),
        "rds-no-cidr-ingress",
    ),
    (
        "sg-rule-cidr-range",
        Extra(_sg_rule("db-from-10", protocol="tcp", from_port=5400, to_port=5500, cidr_blocks=["10.0.0.0/8"]), "db-from-10"),
        "rds-no-cidr-ingress",
    ),
    (
        "vpc-rule-cidr-all-protocols",
        Extra(_vpc_rule("db-from-vpc-all", ip_protocol="-1", cidr_ipv4="10.0.0.0/16"), "db-from-vpc-all"),
        "rds-no-cidr-ingress",
    ),
    ("replica-public", clean_setup(replica={"publicly_accessible": True}), "rds-not-publicly-accessible"),
    # The proxy cannot reach its target.
    ("database-on-other-port", clean_setup(primary={"port": 6432}), "rds-admits-proxy"),
    # Subnet groups.
    (
        "subnet-group-one-subnet",
        Extra(_subnet_group("one-subnet", lambda c: [SUBNETS[0]]), "one-subnet"),
        "rds-subnet-group-two-azs",
    ),
    (
        "subnet-group-one-zone",
        Extra(_subnet_group("one-zone", _subnets_in("zone-a", "us-east-1a", "us-east-1a")), "one-zone"),
        "rds-subnet-group-two-azs",
    ),
    # Consumers that bypass the proxy.
    (
        "lambda-env-instance-address",
        Extra(_lambda("fn-address", lambda c: {"PGHOST": c.primary.address, "PGDATABASE": "orders"}), "fn-address"),
        "client-connects-through-proxy",
    ),
    (
        "lambda-env-url-literal",
        Extra(
            _lambda(
                "fn-url",
                lambda c: {"DATABASE_URL": "postgresql://app@orders-db.c9akciq32xyz.us-east-1.rds.amazonaws.com:5432/orders"},
            ),
            "fn-url",
        ),
        "client-connects-through-proxy",
    ),
    (
        "ecs-env-instance-endpoint",
        Extra(
            _task("api-endpoint", lambda c: [{"name": "DB_ENDPOINT", "value": c.primary.endpoint}], secrets=True), "api-endpoint"
        ),
        "client-connects-through-proxy",
    ),
    (
        "ecs-literal-instance-host",
        Extra(_literal_task("worker-literal", "orders-db.c9akciq32xyz.us-east-1.rds.amazonaws.com"), "worker-literal"),
        "client-connects-through-proxy",
    ),
    (
        "lambda-proxy-without-vpc",
        Extra(_lambda("fn-no-vpc", lambda c: {"DB_HOST": c.proxy.endpoint}, in_vpc=False), "fn-no-vpc"),
        "client-in-proxy-vpc",
    ),
    (
        "lambda-in-group-the-proxy-does-not-admit",
        Extra(_lambda("fn-own-group", lambda c: {"DB_HOST": c.proxy.endpoint}, own_group=True), "fn-own-group"),
        "proxy-admits-client",
    ),
]

CONTROLS: list[tuple[str, Program]] = [
    ("clean-setup", clean_setup()),
    ("read-path-replica-own-group", clean_setup(replica_sg="own")),
    ("lambda-through-proxy-reads-replica", clean_setup(replica_sg="own", extra=LEGIT_LAMBDA)),
    (
        "rule-resource-from-proxy",
        Extra(
            _sg_rule(
                "db-from-proxy-legacy",
                protocol="tcp",
                from_port=5432,
                to_port=5432,
                source_security_group_id=lambda c: c.proxy_sg.id,
            ),
            "db-from-proxy-legacy",
        ),
    ),
    (
        "udp-and-icmp-are-not-the-database-port",
        Extra(
            _combine(
                _vpc_rule(
                    "db-icmp-from-app",
                    ip_protocol="icmp",
                    from_port=-1,
                    to_port=-1,
                    referenced_security_group_id=lambda c: c.app_sg.id,
                ),
                _sg_rule(
                    "db-udp-from-app",
                    protocol="udp",
                    from_port=5432,
                    to_port=5432,
                    source_security_group_id=lambda c: c.app_sg.id,
                ),
            ),
            "db-udp-from-app",
        ),
    ),
    (
        "ecs-through-proxy-with-secret",
        Extra(_task("api-proxy", lambda c: [{"name": "PGHOST", "value": c.proxy.endpoint}], secrets=True), "api-proxy"),
    ),
    (
        "ops-lambda-with-instance-arn",
        Extra(_lambda("snapshotter", lambda c: {"DB_INSTANCE_ARN": c.primary.arn, "RETENTION_DAYS": "7"}), "snapshotter"),
    ),
    (
        "lambda-literal-proxy-host",
        Extra(
            _lambda("fn-literal-proxy", lambda c: {"PGHOST": "orders-proxy.proxy-c9akciq32xyz.us-east-1.rds.amazonaws.com"}),
            "fn-literal-proxy",
        ),
    ),
    (
        "subnet-group-two-zones",
        Extra(_subnet_group("two-zones", _subnets_in("zone-ab", "us-east-1a", "us-east-1b")), "two-zones"),
    ),
    ("subnet-group-literal-subnets", Extra(_subnet_group("literal-subnets", lambda c: SUBNETS), "literal-subnets")),
]


# --- the test ------------------------------------------------------------------------------------

CLEAN = clean_setup()


def _key(v: Any) -> tuple[str, str, str]:
    return (v.policy, v.urn, v.message)


def _batched(cases: list[Extra]) -> Program:
    return clean_setup(extra=_combine(*(c.hook for c in cases)))


DEFECT_BATCH = _batched([c[1] for c in DEFECTS if isinstance(c[1], Extra)])
CONTROL_BATCH = _batched([c[1] for c in CONTROLS if isinstance(c[1], Extra)])


@pytest.mark.parametrize("shape", SHAPES)
def test_corpus_defects_are_caught_and_controls_pass(shape: str) -> None:
    baseline = {_key(v) for v in check(CLEAN, "prod", shape=shape).mandatory}  # type: ignore[arg-type]
    batch = [v for v in check(DEFECT_BATCH, "prod", shape=shape).mandatory if _key(v) not in baseline]  # type: ignore[arg-type]
    missed = []
    for case_id, program, expected in DEFECTS:
        if isinstance(program, Extra):
            new = [v for v in batch if v.policy == expected and v.resource_name == program.marker]
        else:
            result = check(program, "prod", shape=shape)  # type: ignore[arg-type]
            new = [v for v in result.mandatory if v.policy == expected and _key(v) not in baseline]
        if not new:
            missed.append(f"{case_id}: expected {expected}")
    blocked = [f"batch: {v.policy}: {v.message}" for v in check(CONTROL_BATCH, "prod", shape=shape).mandatory]  # type: ignore[arg-type]
    for case_id, program in CONTROLS:
        if not isinstance(program, Extra):
            result = check(program, "prod", shape=shape)  # type: ignore[arg-type]
            blocked += [f"{case_id}: {v.policy}: {v.message}" for v in result.mandatory]
    assert not missed, "\n".join(missed)
    assert not blocked, "\n".join(blocked)


def test_each_batched_case_is_also_a_whole_program() -> None:
    """Batching is only a speed-up: a batched case run alone shows its own finding (one sample per policy)."""
    seen: set[str] = set()
    for case_id, program, expected in DEFECTS:
        if isinstance(program, Extra) and expected not in seen:
            seen.add(expected)
            assert expected in check(program, "prod").fired("mandatory"), case_id
