"""The RDS event subscription component under Pulumi mocks, checked against the pack's category catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components.events import EVENT_CATEGORIES, SOURCE_TYPE, DatabaseEvents, DatabaseEventsArgs, subscription_name
from gate.program import ProgramRun, run_program
from policies.rules.event_catalog import EVENT_CATEGORIES as PACK_CATEGORIES
from policies.rules.event_catalog import SOURCE_TYPES

PROJECT_DIR = Path(__file__).resolve().parents[2]
TYPE = "resilient-rds:events:DatabaseEvents"
SUBSCRIPTION = "aws:rds/eventSubscription:EventSubscription"
TOPIC = "arn:aws:sns:us-east-1:123456789012:orders-prod-database-alarms"


def _run(make_args: Any, *, unknown_computed: bool = True) -> ProgramRun:
    def prog() -> None:
        events = DatabaseEvents("events", make_args())
        pulumi.export("eventSubscriptionId", events.subscription_id)

    return run_program(PROJECT_DIR, "prod", config={"aws:region": "us-east-1"}, program=prog, unknown_computed=unknown_computed)


def test_categories_are_ones_rds_has_for_db_instances() -> None:
    assert SOURCE_TYPE in SOURCE_TYPES
    assert set(EVENT_CATEGORIES) <= PACK_CATEGORIES[SOURCE_TYPE]
    # What on-call must hear about (issue 10): failover, failure, low storage, maintenance.
    assert {"failover", "failure", "low storage", "maintenance"} <= set(EVENT_CATEGORIES)


def test_subscription_covers_primary_and_replicas(component_outputs: dict[str, dict[str, Any]]) -> None:
    def args() -> DatabaseEventsArgs:
        primary = aws.rds.Instance("primary", identifier="orders-prod-db", engine="postgres",
                                   instance_class="db.r6g.large", allocated_storage=100)
        replica = aws.rds.Instance("replica", identifier="orders-prod-replica-1", replicate_source_db=primary.identifier,
                                   instance_class="db.r6g.large")
        topic = aws.sns.Topic("topic", name="orders-prod-database-alarms")
        return DatabaseEventsArgs(prefix="orders-prod", sns_topic_arn=topic.arn, primary_identifier=primary.identifier,
                                  replica_identifiers=[replica.identifier], tags={"Project": "resilient-rds"})

    run = _run(args, unknown_computed=False)
    (component,) = run.by_type(TYPE)
    (subscription,) = run.by_type(SUBSCRIPTION)
    names = {r.name: r.urn for r in run.resources}
    i = subscription.inputs
    assert subscription.parent == component.urn
    assert i["name"] == "orders-prod-database-events"
    assert i["sourceType"] == "db-instance"
    assert i["sourceIds"] == ["orders-prod-db", "orders-prod-replica-1"]
    assert sorted(subscription.property_dependencies["sourceIds"]) == sorted([names["primary"], names["replica"]])
    assert subscription.property_dependencies["snsTopic"] == [names["topic"]]
    assert i["eventCategories"] == list(EVENT_CATEGORIES)
    assert i["enabled"] is True
    assert i["tags"] == {"Project": "resilient-rds", "Name": "orders-prod-database-events"}
    assert run.outputs["eventSubscriptionId"] == subscription.id
    assert component_outputs[component.urn]["eventSubscriptionId"] == subscription.id


def test_without_replicas_only_the_primary() -> None:
    run = _run(lambda: DatabaseEventsArgs(prefix="orders-dev", sns_topic_arn=TOPIC, primary_identifier="orders-dev-db"))
    (subscription,) = run.by_type(SUBSCRIPTION)
    assert subscription.inputs["sourceIds"] == ["orders-dev-db"]
    assert subscription.inputs["snsTopic"] == TOPIC


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"event_categories": ["failover", "low-storage"]}, "low-storage"),
        ({"event_categories": []}, "choose one or more"),
        ({"prefix": "x" * 250}, "fewer than 255"),
    ],
)
def test_bad_args_fail_before_any_resource(changes: dict[str, Any], message: str) -> None:
    def args() -> DatabaseEventsArgs:
        values: dict[str, Any] = {"prefix": "orders-dev", "sns_topic_arn": TOPIC, "primary_identifier": "orders-dev-db"}
        values.update(changes)
        return DatabaseEventsArgs(**values)

    with pytest.raises(Exception, match=message):
        _run(args)


def test_subscription_name() -> None:
    assert subscription_name("orders-prod") == "orders-prod-database-events"
