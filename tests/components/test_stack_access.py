"""Access: rds-db:connect on the proxy's resource id, exported for app roles."""

from __future__ import annotations

import re

import pytest
from stack_helpers import named, policy

from components.access import connect_resource_arn
from gate.program import ProgramRun


def test_connect_policy_names_the_proxy_resource_id(known_run: ProgramRun, stack: str) -> None:
    proxy_arn = named(known_run, "proxy-proxy").outputs["arn"]
    proxy_id = proxy_arn.rsplit(":", 1)[1]
    assert proxy_id.startswith("prx-")
    expected = f"arn:aws:rds-db:us-east-1:123456789012:dbuser:{proxy_id}/orders_admin"
    assert re.fullmatch(r"arn:aws:rds-db:[a-z0-9-]+:\d{12}:dbuser:prx-[a-z0-9]+/[A-Za-z0-9_]+", expected)
    doc = policy(named(known_run, "access-connect-policy").inputs["policy"])
    (statement,) = doc["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == ["rds-db:connect"]
    assert statement["Resource"] == [expected]
    assert known_run.outputs["connectResourceArn"] == expected
    assert known_run.outputs["connectPolicyArn"] == named(known_run, "access-connect-policy").outputs["arn"]


def test_connect_policy_depends_on_the_proxy_in_preview(run: ProgramRun) -> None:
    policy_resource = named(run, "access-connect-policy")
    assert policy_resource.property_dependencies["policy"] == [named(run, "proxy-proxy").urn]


def test_exports(known_run: ProgramRun, stack: str) -> None:
    outputs = known_run.outputs
    for key in (
        "proxyEndpoint",
        "readerEndpoints",
        "secretArn",
        "connectPolicyArn",
        "appSecurityGroupId",
        "primaryIdentifier",
        "alarmTopicArn",
        "connectionBudget",
    ):
        assert key in outputs, key
    assert outputs["primaryIdentifier"] == f"orders-{stack}-db"
    assert outputs["secretArn"] == named(known_run, "credentials-secret").outputs["arn"]
    assert outputs["alarmTopicArn"] == named(known_run, "alarms-topic").outputs["arn"]
    assert outputs["proxyEndpoint"].endswith(".rds.amazonaws.com")
    # Client pool bounds for ECS tasks, from sizing.ecs_pool_bounds (dbclient reads them).
    assert outputs["ecsPool"] == ({"minSize": 2, "maxSize": 10} if stack == "prod" else {"minSize": 1, "maxSize": 5})
    if stack == "dev":
        assert outputs["appSecurityGroupId"] == named(known_run, "network-app-security-group").id


@pytest.mark.parametrize(
    ("arn", "user", "expected"),
    [
        (
            "arn:aws:rds:eu-west-1:210987654321:db-proxy:prx-0123456789abcdef0",
            "app_user",
            "arn:aws:rds-db:eu-west-1:210987654321:dbuser:prx-0123456789abcdef0/app_user",
        ),
        (
            "arn:aws-us-gov:rds:us-gov-west-1:210987654321:db-proxy:prx-abc",
            "orders_admin",
            "arn:aws-us-gov:rds-db:us-gov-west-1:210987654321:dbuser:prx-abc/orders_admin",
        ),
    ],
)
def test_connect_resource_arn(arn: str, user: str, expected: str) -> None:
    assert connect_resource_arn(arn, user) == expected


@pytest.mark.parametrize(
    "arn", ["arn:aws:rds:us-east-1:123456789012:db:orders-prod-db", "orders-prod-proxy", "arn:aws:rds:us-east-1:1:db-proxy:prx-a"]
)
def test_connect_resource_arn_rejects_other_arns(arn: str) -> None:
    with pytest.raises(ValueError, match="not an RDS Proxy ARN"):
        connect_resource_arn(arn, "orders_admin")
