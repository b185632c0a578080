"""Mutation corpus for the monitoring area (issue 8 section 4): alarms, the alarm topic, event
subscriptions and dashboards, each defect in a form the repository's own program does not use
(metric-math queries, other dimension sets, explicit providers and ``region``, aliases, key policy
resources, FIFO topics, hand-written dashboards...).

Each DEFECT is a hook that adds its own resources, named after its case id, to the clean setup.
For speed the hooks run batched: all defects in one program and all controls in another, gated in
each shape the CLI sends.  A defect counts as caught when a mandatory finding of its expected policy
names one of ITS resources (the clean setup has no finding at all, so the finding is new); a hook
that defeats another hook's resources would show up as a miss.  Every control must add no
mandatory finding.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from cases import explain
from policy_harness import CLEAN, SHAPES, Ctx, check, clean_setup

from components import sizing
from components.dashboard import Dashboard, DashboardArgs
from components.events import DatabaseEvents, DatabaseEventsArgs
from gate.analyzer import GateResult

Hook = Callable[[Ctx], None]
GIB = 1024**3
ACCOUNT = "123456789012"


def rds_alarm(name: str, ctx: Ctx, **props: Any) -> aws.cloudwatch.MetricAlarm:
    """An alarm with sound defaults that each case changes in one place."""
    values: dict[str, Any] = {
        "namespace": "AWS/RDS", "statistic": "Average", "period": 60, "evaluation_periods": 3,
        "comparison_operator": "GreaterThanThreshold", "threshold": 80, "alarm_actions": [ctx.topic.arn],
        "treat_missing_data": "breaching",
    }
    values.update(props)
    if "metric_queries" in values:
        for key in ("namespace", "statistic", "period", "metric_name", "dimensions"):
            values.pop(key, None)
    return aws.cloudwatch.MetricAlarm(name, **values)


def query(metric: str, dimensions: dict[str, Any], *, namespace: str = "AWS/RDS", period: int = 60,
          stat: str = "Average", qid: str = "m1", returns: bool = True) -> dict[str, Any]:
    return {"id": qid, "return_data": returns,
            "metric": {"namespace": namespace, "metric_name": metric, "dimensions": dimensions, "period": period, "stat": stat}}


def key_policy(*services: str) -> str:
    statements: list[dict[str, Any]] = [{"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                         "Action": "kms:*", "Resource": "*"}]
    statements += [
        {"Effect": "Allow", "Principal": {"Service": s}, "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}
        for s in services
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def proxy_dims(ctx: Ctx, **more: Any) -> dict[str, Any]:
    return {"ProxyName": ctx.proxy.name, **more}


def primary_dims(ctx: Ctx) -> dict[str, Any]:
    return {"DBInstanceIdentifier": ctx.primary.identifier}


# --- Defects -----------------------------------------------------------------------------------------


def _ns_query(ctx: Ctx) -> None:
    rds_alarm("ns-query", ctx, threshold=300, metric_queries=[
        query("ClientConnections", proxy_dims(ctx), namespace="AWS/RDS/Proxy", stat="Sum")])


def _ns_plain(ctx: Ctx) -> None:
    rds_alarm("ns-plain", ctx, namespace="RDS", metric_name="CPUUtilization", dimensions=primary_dims(ctx))


def _metric_typo_query(ctx: Ctx) -> None:
    rds_alarm("metric-typo", ctx, comparison_operator="LessThanThreshold", threshold=10 * GIB, metric_queries=[
        query("FreeStorageSpaces", primary_dims(ctx), stat="Minimum")])


def _dims_borrow_by_target(ctx: Ctx) -> None:
    rds_alarm("dims-borrow-target", ctx, metric_name="DatabaseConnectionsBorrowLatency", threshold=100_000,
              treat_missing_data="notBreaching",
              dimensions=proxy_dims(ctx, TargetGroup="default", Target="db:orders-db"))


def _dims_availability_proxy_only(ctx: Ctx) -> None:
    rds_alarm("dims-availability", ctx, metric_name="AvailabilityPercentage", comparison_operator="LessThanThreshold",
              threshold=100, treat_missing_data="notBreaching", dimensions=proxy_dims(ctx))


def _dims_instance_and_class(ctx: Ctx) -> None:
    rds_alarm("dims-instance-class", ctx, metric_name="CPUUtilization",
              dimensions={**primary_dims(ctx), "DatabaseClass": "db.r6g.large"})


def _actions_ok_only(ctx: Ctx) -> None:
    rds_alarm("actions-ok-only", ctx, metric_name="CPUUtilization", dimensions=primary_dims(ctx), alarm_actions=None,
              ok_actions=[ctx.topic.arn])


def _actions_disabled(ctx: Ctx) -> None:
    rds_alarm("actions-disabled", ctx, metric_name="CPUUtilization", dimensions=primary_dims(ctx), actions_enabled=False)


def _lag_second_replica(ctx: Ctx) -> None:
    aws.rds.Instance("lag-missing-replica", identifier="orders-db-replica-2", replicate_source_db=ctx.primary.arn,
                     instance_class="db.r6g.large", vpc_security_group_ids=[ctx.db_sg.id], publicly_accessible=False,
                     parameter_group_name=ctx.params.name, skip_final_snapshot=True)


def _connections_math(ctx: Ctx) -> None:
    rds_alarm("conn-math", ctx, threshold=2000, metric_queries=[
        query("DatabaseConnections", primary_dims(ctx), stat="Maximum")])


def _connections_by_identifier(ctx: Ctx) -> None:
    rds_alarm("conn-by-identifier", ctx, metric_name="DatabaseConnections", statistic="Maximum",
              comparison_operator="GreaterThanOrEqualToThreshold", threshold=1900,
              dimensions={"DBInstanceIdentifier": "orders-db"})


def _period_query_45(ctx: Ctx) -> None:
    rds_alarm("period-query-45", ctx, metric_queries=[query("CPUUtilization", primary_dims(ctx), period=45)])


def _period_sub_minute(ctx: Ctx) -> None:
    rds_alarm("period-30", ctx, metric_name="CPUUtilization", dimensions=primary_dims(ctx), period=30)


def _datapoints_above_evaluations(ctx: Ctx) -> None:
    rds_alarm("datapoints-5-of-3", ctx, metric_name="CPUUtilization", dimensions=primary_dims(ctx), datapoints_to_alarm=5)


def _window_over_a_day(ctx: Ctx) -> None:
    rds_alarm("window-25h", ctx, metric_name="CPUUtilization", dimensions=primary_dims(ctx), period=300,
              evaluation_periods=300)


def _cpu_above_100(ctx: Ctx) -> None:
    rds_alarm("cpu-above-100", ctx, metric_name="CPUUtilization", statistic="Maximum",
              comparison_operator="GreaterThanOrEqualToThreshold", threshold=101, dimensions=primary_dims(ctx))


def _storage_below_zero(ctx: Ctx) -> None:
    rds_alarm("storage-below-0", ctx, metric_name="FreeStorageSpace", statistic="Minimum",
              comparison_operator="LessThanThreshold", threshold=0, dimensions=primary_dims(ctx))


def _availability_below_zero(ctx: Ctx) -> None:
    rds_alarm("availability-below-0", ctx, metric_name="AvailabilityPercentage", comparison_operator="LessThanThreshold",
              threshold=0, treat_missing_data="notBreaching",
              dimensions=proxy_dims(ctx, TargetGroup="default", TargetRole="READ_WRITE"))


def _storage_not_breaching(ctx: Ctx) -> None:
    rds_alarm("missing-storage", ctx, metric_name="FreeStorageSpace", statistic="Minimum",
              comparison_operator="LessThanThreshold", threshold=10 * GIB, dimensions=primary_dims(ctx),
              treat_missing_data="notBreaching")


def _lag_ignore_query(ctx: Ctx) -> None:
    rds_alarm("missing-lag-ignore", ctx, threshold=30, treat_missing_data="ignore", metric_queries=[
        query("ReplicaLag", {"DBInstanceIdentifier": ctx.replica.identifier}, stat="Maximum")])


def _six_actions(ctx: Ctx) -> None:
    rds_alarm("actions-six", ctx, metric_name="CPUUtilization", dimensions=primary_dims(ctx),
              alarm_actions=[f"arn:aws:sns:us-east-1:{ACCOUNT}:oncall-{i}" for i in range(6)])


def _action_in_other_region_provider(ctx: Ctx) -> None:
    west = aws.Provider("actions-west-provider", region="us-west-2")
    rds_alarm("actions-west", ctx, metric_name="CPUUtilization", dimensions={"DBInstanceIdentifier": "orders-west-db"},
              alarm_actions=[f"arn:aws:sns:us-east-1:{ACCOUNT}:oncall"], opts=pulumi.ResourceOptions(provider=west))


def _action_topic_in_other_region(ctx: Ctx) -> None:
    europe = aws.Provider("actions-eu-provider", region="eu-west-1")
    topic = aws.sns.Topic("actions-eu-topic", opts=pulumi.ResourceOptions(provider=europe))
    rds_alarm("actions-eu", ctx, metric_name="CPUUtilization", dimensions=primary_dims(ctx), region="us-east-1",
              alarm_actions=[topic.arn])


def _encrypted_topic(prefix: str, ctx: Ctx, key_ref: Any, *, events: bool = False) -> aws.sns.Topic:
    topic = aws.sns.Topic(f"{prefix}-topic", kms_master_key_id=key_ref)
    if events:
        aws.rds.EventSubscription(f"{prefix}-events", sns_topic=topic.arn, source_type="db-instance",
                                  source_ids=[ctx.primary.identifier], event_categories=["failover", "failure"])
    else:
        rds_alarm(f"{prefix}-alarm", ctx, metric_name="FreeableMemory", statistic="Minimum",
                  comparison_operator="LessThanThreshold", threshold=GIB, dimensions=primary_dims(ctx),
                  alarm_actions=[topic.arn])
    return topic


def _key_default_policy(ctx: Ctx) -> None:
    key = aws.kms.Key("key-default-key", description="alarm topic, default key policy")
    _encrypted_topic("key-default", ctx, key.arn)


def _key_aws_managed(ctx: Ctx) -> None:
    _encrypted_topic("key-aws-sns", ctx, "alias/aws/sns")


def _key_through_alias(ctx: Ctx) -> None:
    key = aws.kms.Key("key-alias-key", description="alarm topic", policy=key_policy())
    alias = aws.kms.Alias("key-alias-alias", name="alias/key-alias-alarms", target_key_id=key.key_id)
    _encrypted_topic("key-alias", ctx, alias.name)


def _key_without_rds_events(ctx: Ctx) -> None:
    key = aws.kms.Key("key-no-events-key", description="alarm topic", policy=key_policy("cloudwatch.amazonaws.com"))
    _encrypted_topic("key-no-events", ctx, key.arn, events=True)


def _key_policy_resource(ctx: Ctx) -> None:
    key = aws.kms.Key("key-policy-res-key", description="alarm topic")
    aws.kms.KeyPolicy("key-policy-res-policy", key_id=key.id, policy=key_policy("events.rds.amazonaws.com"))
    _encrypted_topic("key-policy-res", ctx, key.id)


def _events_hyphenated(ctx: Ctx) -> None:
    aws.rds.EventSubscription("events-hyphen", sns_topic=ctx.topic.arn, source_type="db-instance",
                              source_ids=[ctx.primary.identifier], event_categories=["failover", "low-storage"])


def _events_ids_without_type(ctx: Ctx) -> None:
    aws.rds.EventSubscription("events-no-type", sns_topic=ctx.topic.arn, source_ids=[ctx.primary.identifier])


def _events_fifo(ctx: Ctx) -> None:
    topic = aws.sns.Topic("events-fifo-topic", name="events-fifo.fifo", fifo_topic=True)
    aws.rds.EventSubscription("events-fifo", sns_topic=topic.arn, source_type="db-instance",
                              source_ids=[ctx.primary.identifier], event_categories=["failover"])


def _events_proxy_failover(ctx: Ctx) -> None:
    aws.rds.EventSubscription("events-proxy", sns_topic=ctx.topic.arn, source_type="db-proxy",
                              source_ids=[ctx.proxy.name], event_categories=["failover"])


def _board(name: str, board: str, body: Any) -> None:
    aws.cloudwatch.Dashboard(name, dashboard_name=board, dashboard_body=body if isinstance(body, str) else json.dumps(body))


DEFECTS: list[tuple[str, Hook, str]] = [
    ("ns-query", _ns_query, "alarm-rds-namespace"),
    ("ns-plain", _ns_plain, "alarm-rds-namespace"),
    ("metric-typo", _metric_typo_query, "alarm-rds-metric-name"),
    ("dims-borrow-target", _dims_borrow_by_target, "alarm-rds-dimensions"),
    ("dims-availability", _dims_availability_proxy_only, "alarm-rds-dimensions"),
    ("dims-instance-class", _dims_instance_and_class, "alarm-rds-dimensions"),
    ("actions-ok-only", _actions_ok_only, "alarm-has-actions"),
    ("actions-disabled", _actions_disabled, "alarm-has-actions"),
    ("lag-missing", _lag_second_replica, "rds-replica-lag-alarm"),
    ("conn-math", _connections_math, "alarm-connections-below-max"),
    ("conn-by-identifier", _connections_by_identifier, "alarm-connections-below-max"),
    ("period-query-45", _period_query_45, "alarm-period-valid"),
    ("period-30", _period_sub_minute, "alarm-period-valid"),
    ("datapoints-5-of-3", _datapoints_above_evaluations, "alarm-period-valid"),
    ("window-25h", _window_over_a_day, "alarm-period-valid"),
    ("cpu-above-100", _cpu_above_100, "alarm-threshold-reachable"),
    ("storage-below-0", _storage_below_zero, "alarm-threshold-reachable"),
    ("availability-below-0", _availability_below_zero, "alarm-threshold-reachable"),
    ("missing-storage", _storage_not_breaching, "alarm-missing-data-hides-outage"),
    ("missing-lag-ignore", _lag_ignore_query, "alarm-missing-data-hides-outage"),
    ("actions-six", _six_actions, "alarm-actions-valid"),
    ("actions-west", _action_in_other_region_provider, "alarm-actions-valid"),
    ("actions-eu", _action_topic_in_other_region, "alarm-actions-valid"),
    ("key-default", _key_default_policy, "alarm-topic-key-usable"),
    ("key-aws-sns", _key_aws_managed, "alarm-topic-key-usable"),
    ("key-alias", _key_through_alias, "alarm-topic-key-usable"),
    ("key-no-events", _key_without_rds_events, "alarm-topic-key-usable"),
    ("key-policy-res", _key_policy_resource, "alarm-topic-key-usable"),
    ("events-hyphen", _events_hyphenated, "rds-event-subscription-valid"),
    ("events-no-type", _events_ids_without_type, "rds-event-subscription-valid"),
    ("events-fifo", _events_fifo, "rds-event-subscription-valid"),
    ("events-proxy", _events_proxy_failover, "rds-event-subscription-valid"),
    ("board-name", lambda ctx: _board("board-name", "orders prod", {"widgets": []}), "dashboard-valid"),
    ("board-no-widgets", lambda ctx: _board("board-no-widgets", "orders-nw", {"start": "-PT3H"}), "dashboard-valid"),
    ("board-wide", lambda ctx: _board("board-wide", "orders-wide", {"widgets": [{"type": "text", "width": 30,
                                                                               "properties": {"markdown": "x"}}]}),
     "dashboard-valid"),
]


# --- Controls: legitimate designs ---------------------------------------------------------------------


def _proxy_not_breaching(ctx: Ctx) -> None:
    rds_alarm("c-proxy-clients", ctx, metric_name="ClientConnections", statistic="Sum", threshold=300,
              dimensions=proxy_dims(ctx), treat_missing_data="notBreaching")
    rds_alarm("c-proxy-endpoint", ctx, metric_name="QueryResponseLatency", threshold=50_000,
              dimensions=proxy_dims(ctx, EndpointName="default"), treat_missing_data="notBreaching")


def _fleet_and_negative_lag(ctx: Ctx) -> None:
    rds_alarm("c-fleet-cpu", ctx, metric_name="CPUUtilization", dimensions={"EngineName": "postgres"},
              treat_missing_data="notBreaching")
    rds_alarm("c-lag-stopped", ctx, metric_name="ReplicaLag", statistic="Minimum", comparison_operator="LessThanThreshold",
              threshold=0, dimensions={"DBInstanceIdentifier": ctx.replica.identifier})


def _math_expression(ctx: Ctx) -> None:
    rds_alarm("c-math", ctx, threshold=80, evaluation_periods=5, datapoints_to_alarm=3, metric_queries=[
        query("DatabaseConnections", proxy_dims(ctx), stat="Sum", qid="used", returns=False),
        query("MaxDatabaseConnectionsAllowed", proxy_dims(ctx), stat="Sum", qid="allowed", returns=False),
        {"id": "share", "expression": "100 * used / allowed", "label": "pool used (%)", "return_data": True},
    ])


def _missing_default_and_hourly(ctx: Ctx) -> None:
    rds_alarm("c-memory", ctx, metric_name="FreeableMemory", statistic="Minimum", comparison_operator="LessThanThreshold",
              threshold=GIB, dimensions=primary_dims(ctx), treat_missing_data=None)
    rds_alarm("c-xid", ctx, metric_name="MaximumUsedTransactionIDs", statistic="Maximum", period=3600,
              evaluation_periods=24, threshold=1_000_000_000, dimensions=primary_dims(ctx))
    aws.cloudwatch.MetricAlarm("c-custom-high-res", namespace="Custom/Orders", metric_name="Errors", statistic="Sum",
                               period=10, evaluation_periods=6, comparison_operator="GreaterThanThreshold", threshold=5,
                               alarm_actions=[ctx.topic.arn])


def _five_actions_same_region(ctx: Ctx) -> None:
    rds_alarm("c-five", ctx, metric_name="CPUUtilization", dimensions=primary_dims(ctx), region="us-east-1",
              alarm_actions=[f"arn:aws:sns:us-east-1:{ACCOUNT}:oncall-{i}" for i in range(5)])


def _encrypted_topics(ctx: Ctx) -> None:
    key = aws.kms.Key("c-key", description="alarm topic", enable_key_rotation=True,
                      policy=key_policy("cloudwatch.amazonaws.com", "events.rds.amazonaws.com"))
    topic = _encrypted_topic("c-enc", ctx, key.arn)
    aws.rds.EventSubscription("c-enc-events", sns_topic=topic.arn, source_type="db-instance",
                              source_ids=[ctx.primary.identifier, ctx.replica.identifier],
                              event_categories=["availability", "failover", "failure", "low storage", "maintenance"])
    _encrypted_topic("c-external", ctx, f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0f1e2d3c-external")
    later = aws.kms.Key("c-later-key", description="alarm topic, policy attached separately")
    aws.kms.KeyPolicy("c-later-policy", key_id=later.id, policy=key_policy("cloudwatch.amazonaws.com"))
    _encrypted_topic("c-later", ctx, later.arn)


def _cross_region_replica(ctx: Ctx) -> None:
    """A cross-Region replica through a second provider, its lag alarm and topic in its own Region."""
    west = aws.Provider("c-west", region="us-west-2")
    opts = pulumi.ResourceOptions(provider=west)
    west_key = aws.kms.Key("c-west-key", description="replica storage", opts=opts)
    west_sg = aws.ec2.SecurityGroup("c-west-db", vpc_id="vpc-0b1c2d3e4f5a67890", description="replica", opts=opts)
    replica = aws.rds.Instance("c-west-replica", identifier="orders-db-west", replicate_source_db=ctx.primary.arn,
                               instance_class="db.r6g.large", kms_key_id=west_key.arn, vpc_security_group_ids=[west_sg.id],
                               publicly_accessible=False, skip_final_snapshot=True, opts=opts)
    topic = aws.sns.Topic("c-west-topic", opts=opts)
    rds_alarm("c-west-lag", ctx, metric_name="ReplicaLag", statistic="Maximum", threshold=60,
              dimensions={"DBInstanceIdentifier": replica.identifier}, alarm_actions=[topic.arn], ok_actions=[topic.arn],
              opts=opts)


def _repo_components(ctx: Ctx) -> None:
    """The repository's own dashboard and event subscription components."""
    budget = sizing.connection_budget("db.r6g.large", sizing.Workload(50, 20, 10), proxy_max_connections_percent=90,
                                      replica_count=1)
    Dashboard("c-dashboard", DashboardArgs(
        prefix="orders-prod", budget=budget, thresholds=sizing.alarm_thresholds(budget, allocated_storage_gib=100),
        borrow_latency_threshold_us=100_000, connection_borrow_timeout_s=120, replica_lag_threshold_s=60,
        primary_identifier=ctx.primary.identifier, replica_identifiers=[ctx.replica.identifier], proxy_name=ctx.proxy.name))
    DatabaseEvents("c-events", DatabaseEventsArgs(prefix="orders-prod", sns_topic_arn=ctx.topic.arn,
                                                  primary_identifier=ctx.primary.identifier,
                                                  replica_identifiers=[ctx.replica.identifier]))


CONTROLS: list[tuple[str, Hook]] = [
    ("proxy-metrics-not-breaching", _proxy_not_breaching),
    ("fleet-aggregate-and-stopped-replication", _fleet_and_negative_lag),
    ("metric-math-expression", _math_expression),
    ("missing-default-hourly-custom-high-resolution", _missing_default_and_hourly),
    ("five-actions-same-region", _five_actions_same_region),
    ("encrypted-topics-usable-external-or-policy-resource", _encrypted_topics),
    ("cross-region-replica-second-provider", _cross_region_replica),
    ("repo-dashboard-and-event-subscription", _repo_components),
]


def _all(hooks: list[Hook]) -> Hook:
    def extra(ctx: Ctx) -> None:
        for hook in hooks:
            hook(ctx)

    return extra


DEFECT_PROGRAM = clean_setup(extra=_all([hook for _, hook, _ in DEFECTS]))
CONTROL_PROGRAM = clean_setup(extra=_all([hook for _, hook in CONTROLS]))


def _caught(result: GateResult, case_id: str, policy: str) -> bool:
    return any(
        v.policy == policy and v.level == "mandatory" and (v.resource_name.startswith(case_id) or f"::{case_id}" in v.urn)
        for v in result.violations
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_every_defect_is_caught_and_every_control_is_clean(shape: str) -> None:
    baseline = check(CLEAN, "prod", shape=shape)  # type: ignore[arg-type]
    assert baseline.mandatory == [], explain(baseline)
    defects = check(DEFECT_PROGRAM, "prod", shape=shape)  # type: ignore[arg-type]
    missed = [f"{case} ({policy})" for case, _, policy in DEFECTS if not _caught(defects, case, policy)]
    assert missed == [], f"{len(DEFECTS) - len(missed)}/{len(DEFECTS)} caught in {shape}; missed: {missed}\n" + explain(defects)
    controls = check(CONTROL_PROGRAM, "prod", shape=shape)  # type: ignore[arg-type]
    assert controls.mandatory == [], explain(controls)


def test_case_ids_are_unique_and_every_new_policy_has_a_defect() -> None:
    ids = [c[0] for c in DEFECTS] + [c[0] for c in CONTROLS]
    assert len(ids) == len(set(ids))
    covered = {policy for _, _, policy in DEFECTS}
    assert {
        "alarm-rds-namespace", "alarm-rds-metric-name", "alarm-rds-dimensions", "alarm-has-actions", "rds-replica-lag-alarm",
        "alarm-connections-below-max", "alarm-period-valid", "alarm-threshold-reachable", "alarm-missing-data-hides-outage",
        "alarm-actions-valid", "alarm-topic-key-usable", "rds-event-subscription-valid", "dashboard-valid",
    } == covered
