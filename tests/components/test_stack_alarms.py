"""Alarms: namespaces and dimensions, thresholds from sizing (and they move with the config), actions."""

from __future__ import annotations

from typing import Any

from stack_helpers import NS, named, namespace_source, policy, run_changed, stack_config

from components.config import StackConfig, load_config
from gate.program import ProgramRun

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def _alarms(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {a.name.removeprefix("alarms-"): a.inputs for a in run.by_type(ALARM)}


def _config(stack: str) -> StackConfig:
    """The stack's validated config, read from its YAML without Pulumi."""
    raw = stack_config(stack)

    return load_config(namespace_source(raw), stack=stack)


def test_alarm_set(run: ProgramRun, stack: str) -> None:
    names = set(_alarms(run))
    expected = {"db-connections", "cpu", "freeable-memory", "free-storage", "proxy-client-connections", "proxy-borrow-latency"}
    if stack == "prod":
        expected.add("replica-lag-1")
    assert names == expected


def test_namespaces_and_dimensions(run: ProgramRun) -> None:
    primary = named(run, "database-primary").urn
    proxy = named(run, "proxy-proxy").urn
    for alarm in run.by_type(ALARM):
        i = alarm.inputs
        assert i["namespace"] == "AWS/RDS", alarm.name  # there is no AWS/RDS/Proxy namespace
        (dimension,) = i["dimensions"]
        if i["metricName"] in ("ClientConnections", "DatabaseConnectionsBorrowLatency"):
            assert dimension == "ProxyName"
            # Proxy metrics come per proxy node: the client count is their Sum, latency their Average.
            assert i["statistic"] == ("Sum" if i["metricName"] == "ClientConnections" else "Average")
            assert alarm.property_dependencies["dimensions"] == [proxy]
        elif i["metricName"] == "ReplicaLag":
            assert dimension == "DBInstanceIdentifier"
            assert alarm.property_dependencies["dimensions"] == [named(run, "replica-1").urn]
        else:
            assert dimension == "DBInstanceIdentifier"
            assert alarm.property_dependencies["dimensions"] == [primary]


def test_every_alarm_notifies_and_handles_missing_data(run: ProgramRun) -> None:
    topic = named(run, "alarms-topic").urn
    for alarm in run.by_type(ALARM):
        i = alarm.inputs
        assert len(i["alarmActions"]) == 1 and len(i["okActions"]) == 1, alarm.name
        assert alarm.property_dependencies["alarmActions"] == [topic]
        assert alarm.property_dependencies["okActions"] == [topic]
        assert i["treatMissingData"] in ("breaching", "notBreaching"), alarm.name
        assert i["evaluationPeriods"] >= 2 and i["period"] >= 60


def test_thresholds_come_from_sizing(run: ProgramRun, stack: str) -> None:
    config = _config(stack)
    thresholds = config.alarm_thresholds
    alarms = _alarms(run)
    assert alarms["db-connections"]["threshold"] == thresholds.database_connections
    assert alarms["proxy-client-connections"]["threshold"] == thresholds.proxy_client_connections
    assert alarms["freeable-memory"]["threshold"] == thresholds.freeable_memory_bytes
    assert alarms["free-storage"]["threshold"] == thresholds.free_storage_bytes
    assert alarms["cpu"]["threshold"] == thresholds.cpu_percent
    assert alarms["proxy-borrow-latency"]["threshold"] == config.borrow_latency_threshold_us
    if stack == "prod":
        assert alarms["db-connections"]["threshold"] == 1441  # 80 % of 1802, not the seed's 150
        assert alarms["proxy-client-connections"]["threshold"] == 300
        assert alarms["replica-lag-1"]["threshold"] == 30
        assert alarms["freeable-memory"]["comparisonOperator"].startswith("LessThan")
        assert alarms["free-storage"]["comparisonOperator"].startswith("LessThan")


def test_thresholds_move_with_the_config() -> None:
    run = run_changed(
        "prod",
        {
            f"{NS}:alarms.connectionsPercent": 50,
            f"{NS}:alarms.replicaLagS": 120,
            f"{NS}:alarms.cpuPercent": 90,
            f"{NS}:alarms.borrowLatencyMs": 250,
            f"{NS}:database.instanceClass": "db.r6g.xlarge",
            f"{NS}:replicas.instanceClass": "db.r6g.xlarge",
            f"{NS}:workload.lambdaConcurrency": 100,
        },
    )
    alarms = _alarms(run)
    assert alarms["db-connections"]["threshold"] == 3604 * 50 // 100
    assert alarms["replica-lag-1"]["threshold"] == 120
    assert alarms["cpu"]["threshold"] == 90
    assert alarms["proxy-borrow-latency"]["threshold"] == 250_000
    assert alarms["proxy-client-connections"]["threshold"] == 360  # (100 + 200) x 1.2
    assert alarms["freeable-memory"]["threshold"] == 32 * 1024**3 // 10


def test_topic_is_encrypted_with_a_key_cloudwatch_may_use(run: ProgramRun, stack: str) -> None:
    topic = named(run, "alarms-topic")
    assert topic.property_dependencies["kmsMasterKeyId"] == [named(run, "alarms-kms-key").urn]
    key_policy = policy(named(run, "alarms-kms-key").inputs["policy"])
    cloudwatch = [s for s in key_policy["Statement"] if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cloudwatch) == 1
    assert set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    # RDS event notifications (components/events.py) publish to the same topic.
    rds_events = [s for s in key_policy["Statement"] if s.get("Principal") == {"Service": "events.rds.amazonaws.com"}]
    assert len(rds_events) == 1
    assert set(rds_events[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    subscriptions = run.by_type("aws:sns/topicSubscription:TopicSubscription")
    if stack == "prod":
        (subscription,) = subscriptions
        assert subscription.inputs["protocol"] == "email"
        assert subscription.inputs["endpoint"] == "dba-oncall@example.com"
    else:
        assert subscriptions == []


def test_existing_topic_is_used_as_is() -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:ops-alerts"
    run = run_changed("prod", {f"{NS}:alarms.email": None, f"{NS}:alarms.snsTopicArn": arn})
    assert run.by_type("aws:sns/topic:Topic") == []
    assert run.by_type("aws:sns/topicSubscription:TopicSubscription") == []
    assert len(run.by_type("aws:kms/key:Key")) == 2
    for alarm in run.by_type(ALARM):
        assert alarm.inputs["alarmActions"] == [arn] and alarm.inputs["okActions"] == [arn]
    assert run.outputs["alarmTopicArn"] == arn
