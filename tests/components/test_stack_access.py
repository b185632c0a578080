"""Access: rds-db:connect on the proxy's resource id and on each replica's, exported for app roles."""

from __future__ import annotations

import json
import re

import pytest
from stack_helpers import NS, named, policy, run_changed

from components.access import connect_policy_document, connect_resource_arn, instance_connect_resource_arn
from gate.program import ProgramRun

PROXY_RESOURCE = r"arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-[a-z0-9]+/orders_admin"
#: Replicas are reached as the rds_iam reader user; the master user stays password-only for the proxy.
REPLICA_RESOURCE = r"arn:aws:rds-db:us-east-1:123456789012:dbuser:db-[A-Z0-9]+/orders_reader"


def test_connect_policy_names_the_proxy_resource_id(known_run: ProgramRun, stack: str) -> None:
    proxy_arn = named(known_run, "proxy-proxy").outputs["arn"]
    proxy_id = proxy_arn.rsplit(":", 1)[1]
    assert proxy_id.startswith("prx-")
    expected = f"arn:aws:rds-db:us-east-1:123456789012:dbuser:{proxy_id}/orders_admin"
    assert re.fullmatch(r"arn:aws:rds-db:[a-z0-9-]+:\d{12}:dbuser:prx-[a-z0-9]+/[A-Za-z0-9_]+", expected)
    doc = policy(named(known_run, "access-connect-policy").inputs["policy"])
    statement = doc["Statement"][0]  # the proxy statement comes first, unchanged by replicas
    assert statement["Sid"] == "ConnectThroughRdsProxyWithIamAuth"
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == ["rds-db:connect"]
    assert statement["Resource"] == [expected]
    assert known_run.outputs["connectResourceArn"] == expected
    assert known_run.outputs["connectPolicyArn"] == named(known_run, "access-connect-policy").outputs["arn"]


def test_connect_policy_covers_each_replica_by_its_resource_id(known_run: ProgramRun, stack: str) -> None:
    doc = policy(named(known_run, "access-connect-policy").inputs["policy"])
    replicas = [r for r in known_run.by_type("aws:rds/instance:Instance") if r.name.startswith("replica-")]
    if stack == "dev":  # no replica: the document is exactly the proxy statement, as before replicas existed
        assert replicas == [] and len(doc["Statement"]) == 1
        return
    (replica,) = replicas
    resource_id = replica.outputs["resourceId"]
    assert re.fullmatch(r"db-[A-Z0-9]+", resource_id)
    proxy_statement, replica_statement = doc["Statement"]
    assert proxy_statement["Resource"] == [known_run.outputs["connectResourceArn"]]
    assert re.fullmatch(PROXY_RESOURCE, proxy_statement["Resource"][0])
    assert replica_statement == {
        "Sid": "ConnectToReadReplicasWithIamAuth",
        "Effect": "Allow",
        "Action": ["rds-db:connect"],
        "Resource": [f"arn:aws:rds-db:us-east-1:123456789012:dbuser:{resource_id}/orders_reader"],
    }
    assert re.fullmatch(REPLICA_RESOURCE, replica_statement["Resource"][0])
    # Never the identifier, the instance ARN or the primary's resource id.
    primary = named(known_run, "database-primary")
    text = json.dumps(doc)
    assert primary.outputs["resourceId"] not in text and replica.inputs["identifier"] not in text
    # The master user only through the proxy: a direct IAM login as it would need rds_iam, which
    # would stop the proxy's password login.
    assert f"{resource_id}/orders_admin" not in text


def test_connect_policy_with_three_replicas() -> None:
    run = run_changed("prod", {f"{NS}:replicas.count": 3}, unknown_computed=False)
    doc = policy(named(run, "access-connect-policy").inputs["policy"])
    instances = run.by_type("aws:rds/instance:Instance")
    replicas = sorted((r for r in instances if r.name.startswith("replica-")), key=lambda r: r.name)
    expected = [f"arn:aws:rds-db:us-east-1:123456789012:dbuser:{r.outputs['resourceId']}/orders_reader" for r in replicas]
    assert len(set(expected)) == 3
    assert doc["Statement"][1]["Resource"] == expected  # replica order, one ARN each


def test_connect_policy_names_the_configured_reader_user() -> None:
    run = run_changed(
        "prod",
        {f"{NS}:database.readerUsername": "lookup_ro", f"{NS}:database.masterUsername": "postgres"},
        unknown_computed=False,
    )
    proxy_statement, replica_statement = policy(named(run, "access-connect-policy").inputs["policy"])["Statement"]
    assert [arn.rsplit("/", 1)[1] for arn in proxy_statement["Resource"]] == ["postgres"]
    assert [arn.rsplit("/", 1)[1] for arn in replica_statement["Resource"]] == ["lookup_ro"]
    assert (run.outputs["dbUser"], run.outputs["dbReaderUser"]) == ("postgres", "lookup_ro")


def test_connect_policy_depends_on_the_proxy_and_replicas_in_preview(run: ProgramRun, stack: str) -> None:
    policy_resource = named(run, "access-connect-policy")
    expected = [named(run, "proxy-proxy").urn] + ([named(run, "replica-1").urn] if stack == "prod" else [])
    assert sorted(policy_resource.property_dependencies["policy"]) == sorted(expected)


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
    else:
        assert outputs["replicaSecurityGroupId"] == named(known_run, "network-replica-security-group").id


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


@pytest.mark.parametrize(
    ("arn", "resource_id", "expected"),
    [
        (
            "arn:aws:rds:eu-west-1:210987654321:db:orders-prod-db-replica-1",
            "db-ABCDEFGHIJKLMNOPQRSTUVWXY2",
            "arn:aws:rds-db:eu-west-1:210987654321:dbuser:db-ABCDEFGHIJKLMNOPQRSTUVWXY2/app_user",
        ),
        (
            "arn:aws-us-gov:rds:us-gov-west-1:210987654321:db:reader",
            "db-0123",
            "arn:aws-us-gov:rds-db:us-gov-west-1:210987654321:dbuser:db-0123/app_user",
        ),
    ],
)
def test_instance_connect_resource_arn(arn: str, resource_id: str, expected: str) -> None:
    assert instance_connect_resource_arn(arn, resource_id, "app_user") == expected


@pytest.mark.parametrize(
    ("arn", "resource_id", "message"),
    [
        ("arn:aws:rds:us-east-1:123456789012:db-proxy:prx-abc", "db-ABC", "not an RDS instance ARN"),
        ("orders-prod-db-replica-1", "db-ABC", "not an RDS instance ARN"),
        ("arn:aws:rds:us-east-1:123456789012:db:orders-prod-db-replica-1", "orders-prod-db-replica-1", "not a DbiResourceId"),
        ("arn:aws:rds:us-east-1:123456789012:db:orders-prod-db-replica-1", "prx-abc", "not a DbiResourceId"),
    ],
)
def test_instance_connect_resource_arn_rejects_other_values(arn: str, resource_id: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        instance_connect_resource_arn(arn, resource_id, "orders_admin")


def test_policy_document_without_replicas_is_the_proxy_statement_alone() -> None:
    """Stacks without replicas keep the exact document they had: no update to the deployed policy."""
    proxy = "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-abc/u"
    assert json.loads(connect_policy_document(proxy)) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ConnectThroughRdsProxyWithIamAuth", "Effect": "Allow", "Action": ["rds-db:connect"], "Resource": [proxy]}
        ],
    }
    assert connect_policy_document(proxy, []) == connect_policy_document(proxy)
