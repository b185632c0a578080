"""policies/rules/consumers.py: the stack's clients reach the database through RDS Proxy.

End to end: a Lambda function or ECS task definition added to the clean setup.  Fast layer: how
host names, dependencies and variable names decide, on resource dicts.  The mutation corpus
(``test_corpus_network.py``) runs more forms in every shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, Resource, stack_violations
from policy_harness import SHAPES, SUBNETS, VPC, Ctx, check, clean_setup

from policies.rules import consumers
from policies.rules.consumers import CLIENT_CONNECTS_THROUGH_PROXY, CLIENT_IN_PROXY_VPC, PROXY_ADMITS_CLIENT
from policies.rules.resource_types import (
    CLUSTER,
    ECS_TASK_DEFINITION,
    INSTANCE,
    LAMBDA_FUNCTION,
    PROXY,
    PROXY_TARGET,
    SECURITY_GROUP,
    SG_INGRESS_RULE,
)

LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


def _function(variables: Callable[[Ctx], dict[str, Any]], *, vpc: bool = True) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        role = aws.iam.Role("fn-role", assume_role_policy=LAMBDA_TRUST)
        aws.lambda_.Function(
            "orders-fn",
            role=role.arn,
            runtime="python3.12",
            handler="app.handler",
            code=pulumi.AssetArchive({"app.py": pulumi.StringAsset("def handler(e, c):\n    return {}\n")}),
            vpc_config={"subnet_ids": SUBNETS, "security_group_ids": [ctx.app_sg.id]} if vpc else None,
            environment={"variables": variables(ctx)},
        )

    return add


def _task(host: Callable[[Ctx], Any]) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        container = {"name": "api", "image": "api:1", "essential": True, "environment": [{"name": "PGHOST", "value": host(ctx)}]}
        aws.ecs.TaskDefinition("orders-api", family="orders-api", container_definitions=pulumi.Output.json_dumps([container]))

    return add


def _function_in_own_group(ctx: Ctx) -> None:
    group = aws.ec2.SecurityGroup("fn-sg", vpc_id=VPC, description="function")
    role = aws.iam.Role("fn-role", assume_role_policy=LAMBDA_TRUST)
    aws.lambda_.Function(
        "orders-fn",
        role=role.arn,
        runtime="python3.12",
        handler="app.handler",
        code=pulumi.AssetArchive({"app.py": pulumi.StringAsset("def handler(e, c):\n    return {}\n")}),
        vpc_config={"subnet_ids": SUBNETS, "security_group_ids": [group.id]},
        environment={"variables": {"DB_HOST": ctx.proxy.endpoint}},
    )


THROUGH_PROXY = clean_setup(extra=_function(lambda c: {"DB_HOST": c.proxy.endpoint, "DB_NAME": "orders"}))

CASES: list[Case] = [
    (
        "client-connects-through-proxy",
        "lambda_instance_address",
        clean_setup(extra=_function(lambda c: {"DB_HOST": c.primary.address, "DB_NAME": "orders"})),
        THROUGH_PROXY,
    ),
    (
        "client-connects-through-proxy",
        "ecs_instance_endpoint",
        clean_setup(extra=_task(lambda c: c.primary.endpoint)),
        clean_setup(extra=_task(lambda c: c.proxy.endpoint)),
    ),
    (
        "client-in-proxy-vpc",
        "lambda_outside_vpc",
        clean_setup(extra=_function(lambda c: {"DB_HOST": c.proxy.endpoint}, vpc=False)),
        THROUGH_PROXY,
    ),
    ("proxy-admits-client", "function_group_not_admitted", clean_setup(extra=_function_in_own_group), THROUGH_PROXY),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good, shape):
    assert_only(check(bad, shape=shape), policy)
    assert_clean(check(good, shape=shape))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(consumers, CASES)


def test_reading_from_the_replica_directly_is_the_read_path():
    reads = clean_setup(
        replica_sg="own",
        extra=_function(lambda c: {"DB_HOST": c.proxy.endpoint, "DB_READER_HOST": c.replica.address}),
    )
    assert_clean(check(reads))


# --- Fast layer ------------------------------------------------------------------------------------


def _fronted_stack(*clients: Resource, cluster: bool = False) -> list[Resource]:
    db = (
        Resource(CLUSTER, "db", {"clusterIdentifier": "orders", "engine": "aurora-postgresql"})
        if cluster
        else Resource(INSTANCE, "db", {"identifier": "orders-db", "engine": "postgres"})
    )
    target_prop = "dbClusterIdentifier" if cluster else "dbInstanceIdentifier"
    return [
        db,
        Resource(PROXY, "proxy", {"name": "orders-proxy"}),
        Resource(
            PROXY_TARGET,
            "target",
            {"dbProxyName": UNKNOWN, target_prop: UNKNOWN},
            {"dbProxyName": ["proxy"], target_prop: ["db"]},
        ),
        *clients,
    ]


def _fn(variables: Any, deps: list[str] | None = None, **props: Any) -> Resource:
    env = {"variables": variables} if variables is not UNKNOWN else UNKNOWN
    return Resource(LAMBDA_FUNCTION, "fn", {"environment": env, **props}, {"environment": deps or []})


@pytest.mark.parametrize(
    ("host", "bypass"),
    [
        ("orders-db.c9akciq32xyz.us-east-1.rds.amazonaws.com", True),
        ("ORDERS-DB.C9AKCIQ32XYZ.US-EAST-1.RDS.AMAZONAWS.COM", True),
        ("postgresql://app@orders-db.c9akciq32xyz.eu-west-1.rds.amazonaws.com:5432/orders?sslmode=require", True),
        ("orders-db.c9akciq32xyz.cn-north-1.rds.amazonaws.com.cn", True),
        ("orders-proxy.proxy-c9akciq32xyz.us-east-1.rds.amazonaws.com", False),
        ("orders-db-replica.c9akciq32xyz.us-east-1.rds.amazonaws.com", False),  # another instance (the replica)
        ("reports-db.c9akciq32xyz.us-east-1.rds.amazonaws.com", False),  # not a database the proxy fronts
        ("db.internal.example.com", False),
    ],
)
def test_literal_instance_host_names(host, bypass):
    found = stack_violations(CLIENT_CONNECTS_THROUGH_PROXY, _fronted_stack(_fn({"PGHOST": host})))
    assert bool(found) is bypass


@pytest.mark.parametrize(
    ("host", "bypass"),
    [
        ("orders.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com", True),  # the writer
        ("orders.cluster-ro-c9akciq32xyz.us-east-1.rds.amazonaws.com", False),  # reader endpoint
        ("orders.cluster-custom-c9akciq32xyz.us-east-1.rds.amazonaws.com", False),
    ],
)
def test_cluster_writer_host_names(host, bypass):
    found = stack_violations(CLIENT_CONNECTS_THROUGH_PROXY, _fronted_stack(_fn({"PGHOST": host}), cluster=True))
    assert bool(found) is bypass


def test_dependencies_decide_when_values_are_unknown():
    # Computed from the database and from no proxy: it connects to the database.
    assert stack_violations(CLIENT_CONNECTS_THROUGH_PROXY, _fronted_stack(_fn({"DB_HOST": UNKNOWN}, ["db"])))
    # From the proxy too: the host may be the proxy's (the database may be there for its ARN).
    assert (
        stack_violations(
            CLIENT_CONNECTS_THROUGH_PROXY, _fronted_stack(_fn({"DB_HOST": UNKNOWN, "DB_ARN": UNKNOWN}, ["db", "proxy"]))
        )
        == []
    )
    # No variable names a host: an operations function (snapshots by ARN), not a database client.
    assert stack_violations(CLIENT_CONNECTS_THROUGH_PROXY, _fronted_stack(_fn({"DB_ARN": UNKNOWN}, ["db"]))) == []
    # The whole environment unknown: judged by its dependencies alone.
    assert stack_violations(CLIENT_CONNECTS_THROUGH_PROXY, _fronted_stack(_fn(UNKNOWN, ["db"])))


def test_no_proxy_in_front_means_nothing_to_bypass():
    client = _fn({"PGHOST": "orders-db.c9akciq32xyz.us-east-1.rds.amazonaws.com"})
    lone = [Resource(INSTANCE, "db", {"identifier": "orders-db", "engine": "postgres"}), client]
    assert stack_violations(CLIENT_CONNECTS_THROUGH_PROXY, lone) == []


@pytest.mark.parametrize(
    ("definitions", "deps", "bypass"),
    [
        (
            json.dumps([{"name": "a", "environment": [{"name": "H", "value": "orders-db.x1.us-east-1.rds.amazonaws.com"}]}]),
            [],
            True,
        ),
        ([{"name": "a", "environment": [{"name": "H", "value": "orders-db.x1.us-east-1.rds.amazonaws.com"}]}], [], True),
        (json.dumps([{"name": "a", "secrets": [{"name": "PGPASSWORD", "valueFrom": "arn:aws:secretsmanager:x"}]}]), [], False),
        (UNKNOWN, ["db"], True),
        (UNKNOWN, ["db", "proxy"], False),
        ("not json", [], False),
    ],
)
def test_ecs_container_definitions(definitions, deps, bypass):
    task = Resource(ECS_TASK_DEFINITION, "task", {"containerDefinitions": definitions}, {"containerDefinitions": deps})
    assert bool(stack_violations(CLIENT_CONNECTS_THROUGH_PROXY, _fronted_stack(task))) is bypass


@pytest.mark.parametrize(
    ("vpc_config", "outside"),
    [
        (None, True),
        ({"subnetIds": [], "securityGroupIds": [], "vpcId": ""}, True),  # how a deployed function without a VPC reads
        ({"subnetIds": ["subnet-1"], "securityGroupIds": []}, True),
        ({"subnetIds": ["subnet-1"], "securityGroupIds": ["sg-0123456789abcdef0"]}, False),
        (UNKNOWN, False),  # computed from another resource (here the proxy's subnets): judged once known
    ],
)
def test_functions_reach_the_proxy_only_from_a_vpc(vpc_config, outside):
    props = {} if vpc_config is None else {"vpcConfig": vpc_config}
    client = _fn({"DB_HOST": UNKNOWN}, ["proxy"], **props)
    if vpc_config is UNKNOWN:
        # An unknown the program set always has a property dependency; one without is provider-computed (omitted).
        client.deps["vpcConfig"] = ["proxy"]
    assert bool(stack_violations(CLIENT_IN_PROXY_VPC, _fronted_stack(client))) is outside


def test_the_proxy_group_must_admit_the_function_group():
    groups = [Resource(SECURITY_GROUP, n, {"id": UNKNOWN}) for n in ("fn-sg", "other-sg", "proxy-sg")]
    proxy = Resource(PROXY, "proxy", {"vpcSecurityGroupIds": [UNKNOWN]}, {"vpcSecurityGroupIds": ["proxy-sg"]})

    def fn(group: str) -> Resource:
        return Resource(
            LAMBDA_FUNCTION,
            "fn",
            {
                "environment": {"variables": {"DB_HOST": UNKNOWN}},
                "vpcConfig": {"subnetIds": ["subnet-1"], "securityGroupIds": [UNKNOWN]},
            },
            {"environment": ["proxy"], "vpcConfig": [group]},
        )

    rule = Resource(
        SG_INGRESS_RULE,
        "proxy-from-fn",
        {"securityGroupId": UNKNOWN, "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "referencedSecurityGroupId": UNKNOWN},
        {"securityGroupId": ["proxy-sg"], "referencedSecurityGroupId": ["fn-sg"]},
    )
    assert stack_violations(PROXY_ADMITS_CLIENT, [*groups, proxy, rule, fn("fn-sg")]) == []
    (finding,) = stack_violations(PROXY_ADMITS_CLIENT, [*groups, proxy, rule, fn("other-sg")])
    assert "other-sg" in finding.message
    # A function group outside the stack: its membership is not ours to judge.
    outside = Resource(
        LAMBDA_FUNCTION,
        "fn",
        {"environment": {"variables": {"DB_HOST": UNKNOWN}}, "vpcConfig": {"securityGroupIds": ["sg-0123456789abcdef0"]}},
        {"environment": ["proxy"]},
    )
    assert stack_violations(PROXY_ADMITS_CLIENT, [*groups, proxy, rule, outside]) == []
