"""policies/rules/notifications.py: the alarm topic can be published to, event subscriptions and dashboards deploy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi_aws as aws
import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, Resource, resource_violations, stack_violations
from policy_harness import Ctx, check, clean_setup

from policies.rules import notifications
from policies.rules.notifications import ALARM_TOPIC_KEY_USABLE, DASHBOARD_VALID, RDS_EVENT_SUBSCRIPTION_VALID

TOPIC = "aws:sns/topic:Topic"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
IAM_ROLE = "aws:iam/role:Role"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SUBSCRIPTION = "aws:rds/eventSubscription:EventSubscription"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"


def key_policy(*services: str, actions: Any = ("kms:Decrypt", "kms:GenerateDataKey*")) -> str:
    statements: list[dict[str, Any]] = [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*",
         "Resource": "*"}
    ]
    statements += [{"Effect": "Allow", "Principal": {"Service": s}, "Action": list(actions), "Resource": "*"} for s in services]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def encrypted_alarm_topic(policy: str | None) -> Callable[[Ctx], None]:
    """A topic encrypted with a key of the stack (``policy`` None: the KMS default policy), and an alarm on it."""

    def extra(ctx: Ctx) -> None:
        key = aws.kms.Key("alerts-key", description="alarm topic", **({"policy": policy} if policy is not None else {}))
        topic = aws.sns.Topic("alerts-encrypted", kms_master_key_id=key.arn)
        aws.cloudwatch.MetricAlarm(
            "free-storage", namespace="AWS/RDS", metric_name="FreeStorageSpace",
            dimensions={"DBInstanceIdentifier": ctx.primary.identifier}, statistic="Minimum", period=300,
            evaluation_periods=2, comparison_operator="LessThanThreshold", threshold=10 * 1024**3,
            alarm_actions=[topic.arn],
        )

    return extra


def event_subscription(categories: list[str]) -> Callable[[Ctx], None]:
    def extra(ctx: Ctx) -> None:
        aws.rds.EventSubscription(
            "db-events", sns_topic=ctx.topic.arn, source_type="db-instance",
            source_ids=[ctx.primary.identifier, ctx.replica.identifier], event_categories=categories,
        )

    return extra


def dashboard(name: str) -> Callable[[Ctx], None]:
    def extra(ctx: Ctx) -> None:
        aws.cloudwatch.Dashboard("board", dashboard_name=name, dashboard_body=json.dumps({"widgets": []}))

    return extra


CASES: list[Case] = [
    ("alarm-topic-key-usable", "default_key_policy", clean_setup(extra=encrypted_alarm_topic(None)),
     clean_setup(extra=encrypted_alarm_topic(key_policy("cloudwatch.amazonaws.com")))),
    ("rds-event-subscription-valid", "hyphenated_category", clean_setup(extra=event_subscription(["failover", "low-storage"])),
     clean_setup(extra=event_subscription(["failover", "low storage"]))),
    ("dashboard-valid", "space_in_name", clean_setup(extra=dashboard("orders db")), clean_setup(extra=dashboard("orders-db"))),
]


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad), policy)
    assert_clean(check(good))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(notifications, CASES)


# --- Fast layer ------------------------------------------------------------------------------------------

CPU_ALARM = {"namespace": "AWS/RDS", "metricName": "CPUUtilization", "dimensions": {"DBInstanceIdentifier": "db"},
             "alarmActions": [UNKNOWN]}


def _stack(topic_props: dict[str, Any], *others: Resource, publisher: str = "alarm") -> list[Resource]:
    topic = Resource(TOPIC, "topic", topic_props, {"kmsMasterKeyId": [r.name for r in others if r.type in (KEY, ALIAS)][:1]})
    if publisher == "alarm":
        source = Resource(ALARM, "cpu", CPU_ALARM, {"alarmActions": ["topic"]})
    else:
        source = Resource(SUBSCRIPTION, "events", {"snsTopic": UNKNOWN, "sourceType": "db-instance"}, {"snsTopic": ["topic"]})
    return [*others, topic, source]


def test_key_policies():
    def key(policy: Any) -> Resource:
        return Resource(KEY, "key", {"policy": policy} if policy is not None else {})

    encrypted = {"kmsMasterKeyId": UNKNOWN}
    assert stack_violations(ALARM_TOPIC_KEY_USABLE, _stack(encrypted, key(key_policy("cloudwatch.amazonaws.com")))) == []
    (finding,) = stack_violations(ALARM_TOPIC_KEY_USABLE, _stack(encrypted, key(None)))  # KMS default: account only
    assert "cloudwatch.amazonaws.com" in finding.message and finding.urn.endswith("::topic")
    # The right service for the publisher: RDS events need events.rds.amazonaws.com.
    rds_only = key(key_policy("cloudwatch.amazonaws.com"))
    (finding,) = stack_violations(ALARM_TOPIC_KEY_USABLE, _stack(encrypted, rds_only, publisher="events"))
    assert "events.rds.amazonaws.com" in finding.message
    assert stack_violations(ALARM_TOPIC_KEY_USABLE, _stack(encrypted, key(key_policy("events.rds.amazonaws.com")),
                                                           publisher="events")) == []
    # Wildcards count; half the actions do not.
    assert stack_violations(ALARM_TOPIC_KEY_USABLE, _stack(encrypted, key(key_policy("cloudwatch.amazonaws.com",
                                                                                      actions=["kms:*"])))) == []
    assert stack_violations(ALARM_TOPIC_KEY_USABLE, _stack(encrypted, key(key_policy("cloudwatch.amazonaws.com",
                                                                                      actions=["kms:Decrypt"]))))
    # Not known yet: a policy the program computes from another resource (a role's ARN) is judged once known.
    role = Resource(IAM_ROLE, "role", {"arn": UNKNOWN})
    pending = Resource(KEY, "key", {"policy": UNKNOWN}, {"policy": ["role"]})
    assert stack_violations(ALARM_TOPIC_KEY_USABLE, _stack(encrypted, pending, role)) == []
    # Unknown with no dependency: the provider's computed default policy (the program set none), account only.
    assert stack_violations(ALARM_TOPIC_KEY_USABLE, _stack(encrypted, key(UNKNOWN)))


def test_key_through_an_alias_a_key_policy_resource_or_by_value():
    encrypted = {"kmsMasterKeyId": UNKNOWN}
    key = Resource(KEY, "key", {"keyId": "k-1", "arn": "arn:aws:kms:us-east-1:1:key/k-1"})
    alias = Resource(ALIAS, "alias", {"name": "alias/alerts", "targetKeyId": UNKNOWN}, {"targetKeyId": ["key"]})
    assert stack_violations(ALARM_TOPIC_KEY_USABLE, _stack(encrypted, alias, key))
    attached = Resource(KEY_POLICY, "key-policy", {"keyId": UNKNOWN, "policy": key_policy("cloudwatch.amazonaws.com")},
                        {"keyId": ["key"]})
    assert stack_violations(ALARM_TOPIC_KEY_USABLE, _stack(encrypted, alias, key, attached)) == []
    by_arn = _stack({"kmsMasterKeyId": "arn:aws:kms:us-east-1:1:key/k-1"}, key)
    assert stack_violations(ALARM_TOPIC_KEY_USABLE, by_arn)
    outside = _stack({"kmsMasterKeyId": "arn:aws:kms:us-east-1:1:key/elsewhere"})
    assert stack_violations(ALARM_TOPIC_KEY_USABLE, outside) == []  # not ours to judge


@pytest.mark.parametrize("ref", ["alias/aws/sns", "arn:aws:kms:us-east-1:123456789012:alias/aws/sns"])
def test_aws_managed_sns_key(ref):
    (finding,) = stack_violations(ALARM_TOPIC_KEY_USABLE, _stack({"kmsMasterKeyId": ref}))
    assert "AWS managed key" in finding.message


def test_unencrypted_topic_and_topic_nobody_publishes_to():
    assert stack_violations(ALARM_TOPIC_KEY_USABLE, _stack({})) == []
    lonely = Resource(TOPIC, "topic", {"kmsMasterKeyId": "alias/aws/sns"})
    assert stack_violations(ALARM_TOPIC_KEY_USABLE, [lonely]) == []


def _subscription(**props: Any) -> Resource:
    return Resource(SUBSCRIPTION, "events", {"snsTopic": "arn:aws:sns:us-east-1:1:ops", **props})


@pytest.mark.parametrize(
    ("props", "bad"),
    [
        ({"sourceType": "db-instance", "eventCategories": ["failover", "failure", "low storage", "maintenance"]}, False),
        ({"sourceType": "db-instance", "eventCategories": ["Failover"]}, False),  # case: not documented as refused
        ({"sourceType": "db-instance", "eventCategories": ["failovers"]}, True),
        ({"sourceType": "db-instance", "eventCategories": ["low_storage"]}, True),
        ({"sourceType": "db-proxy", "eventCategories": ["failure"]}, False),
        ({"sourceType": "db-proxy", "eventCategories": ["failover"]}, True),
        ({"sourceType": "db-cluster", "eventCategories": ["global-failover"]}, False),  # not judged
        ({"sourceType": "db_instance"}, True),
        ({"sourceIds": ["orders-db"]}, True),
        ({}, False),  # every source, every category
        ({"sourceType": "db-instance", "name": "x" * 255}, True),
        ({"sourceType": "db-instance", "snsTopic": "arn:aws:sns:us-east-1:1:ops.fifo"}, True),
    ],
)
def test_event_subscription_table(props, bad):
    found = stack_violations(RDS_EVENT_SUBSCRIPTION_VALID, [_subscription(**props)])
    assert bool(found) == bad, [f.message for f in found]


def test_event_subscription_extra_categories_and_fifo_topic_resource():
    sub = _subscription(sourceType="db-instance", eventCategories=["brand new"])
    assert stack_violations(RDS_EVENT_SUBSCRIPTION_VALID, [sub], config={"extraEventCategories": ["brand new"]}) == []
    fifo = Resource(TOPIC, "topic", {"fifoTopic": True})
    sub = Resource(SUBSCRIPTION, "events", {"snsTopic": UNKNOWN, "sourceType": "db-instance"}, {"snsTopic": ["topic"]})
    (finding,) = stack_violations(RDS_EVENT_SUBSCRIPTION_VALID, [fifo, sub])
    assert "FIFO" in finding.message


@pytest.mark.parametrize(
    ("props", "bad"),
    [
        ({"dashboardName": "orders-prod_database", "dashboardBody": json.dumps({"widgets": []})}, False),
        ({"dashboardName": "orders/prod", "dashboardBody": json.dumps({"widgets": []})}, True),
        ({"dashboardName": "x" * 256, "dashboardBody": json.dumps({"widgets": []})}, True),
        ({"dashboardName": "d", "dashboardBody": "{widgets: []}"}, True),
        ({"dashboardName": "d", "dashboardBody": json.dumps({"start": "-PT6H"})}, True),
        ({"dashboardName": "d", "dashboardBody": json.dumps({"widgets": [{"type": "text", "width": 25}]})}, True),
        ({"dashboardName": "d", "dashboardBody": json.dumps({"widgets": [{"properties": {}}]})}, True),
        ({"dashboardName": "d", "dashboardBody": json.dumps({"widgets": [{"type": "text"}] * 501})}, True),
        ({"dashboardName": UNKNOWN, "dashboardBody": UNKNOWN}, False),
    ],
)
def test_dashboard_table(props, bad):
    found = resource_violations(DASHBOARD_VALID, DASHBOARD, props)
    assert bool(found) == bad, [f.message for f in found]
