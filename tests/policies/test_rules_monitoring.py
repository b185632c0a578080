"""policies/rules/monitoring.py: alarms that can fire on RDS and RDS Proxy metrics."""

from __future__ import annotations

import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, Resource, resource_violations, stack_violations
from policy_harness import CLEAN, check, clean_setup

from policies.rules import monitoring
from policies.rules.metric_catalog import PROXY_METRIC_DIMENSION_SETS, dimension_problem
from policies.rules.monitoring import (
    ALARM_ACTIONS_VALID,
    ALARM_CONNECTIONS_BELOW_MAX,
    ALARM_HAS_ACTIONS,
    ALARM_MISSING_DATA_HIDES_OUTAGE,
    ALARM_PERIOD_VALID,
    ALARM_RDS_DIMENSIONS,
    ALARM_RDS_METRIC_NAME,
    ALARM_RDS_NAMESPACE,
    ALARM_THRESHOLD_REACHABLE,
    RDS_REPLICA_LAG_ALARM,
)
from policies.rules.resource_types import INSTANCE, METRIC_ALARM

CASES: list[Case] = [
    ("alarm-rds-namespace", "proxy_namespace", clean_setup(alarm_overrides={"proxy-clients": {"namespace": "AWS/RDS/Proxy"}}),
     CLEAN),
    ("alarm-rds-metric-name", "typo", clean_setup(alarm_overrides={"cpu": {"metric_name": "CpuUtilisation"}}), CLEAN),
    ("alarm-rds-dimensions", "no_dimensions", clean_setup(alarm_overrides={"cpu": {"dimensions": None}}), CLEAN),
    ("alarm-rds-dimensions", "proxy_metric_on_instance",
     clean_setup(alarm_overrides={"proxy-clients": {"dimensions": {"DBInstanceIdentifier": "orders-db"}}}), CLEAN),
    ("alarm-has-actions", "no_actions", clean_setup(alarm_overrides={"cpu": {"alarm_actions": []}}), CLEAN),
    ("alarm-has-actions", "disabled", clean_setup(alarm_overrides={"cpu": {"actions_enabled": False}}),
     clean_setup(alarm_overrides={"cpu": {"actions_enabled": True}})),
    ("rds-replica-lag-alarm", "missing", clean_setup(lag_alarm=False), clean_setup(lag_alarm=True)),
    ("alarm-connections-below-max", "above_max", clean_setup(alarm_overrides={"connections": {"threshold": 1802}}),
     clean_setup(alarm_overrides={"connections": {"threshold": 1441}})),
    ("alarm-period-valid", "period_45", clean_setup(alarm_overrides={"cpu": {"period": 45}}), CLEAN),
    ("alarm-threshold-reachable", "cpu_above_100", clean_setup(alarm_overrides={"cpu": {"threshold": 100}}), CLEAN),
    ("alarm-missing-data-hides-outage", "cpu_not_breaching",
     clean_setup(alarm_overrides={"cpu": {"treat_missing_data": "notBreaching"}}),
     clean_setup(alarm_overrides={"cpu": {"treat_missing_data": "breaching"}})),
    ("alarm-actions-valid", "topic_in_other_region",
     clean_setup(alarm_overrides={"cpu": {"region": "us-east-1", "alarm_actions": ["arn:aws:sns:eu-west-1:123456789012:ops"]}}),
     clean_setup(alarm_overrides={"cpu": {"region": "us-east-1", "alarm_actions": ["arn:aws:sns:us-east-1:123456789012:ops"]}})),
]


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad), policy)
    assert_clean(check(good))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(monitoring, CASES)


# --- Fast layer: the policies alone, on resource dicts ------------------------------------------------


def _metric_query(namespace: str, metric: str, dimensions: dict[str, str]) -> dict[str, object]:
    """An alarm written with metricQueries instead of the top-level metric fields."""
    return {"metricQueries": [{"id": "m1", "returnData": True, "metric": {
        "namespace": namespace, "metricName": metric, "dimensions": dimensions, "period": 60, "stat": "Average"}}]}


def test_alarms_written_as_metric_queries():
    wrong_ns = _metric_query("AWS/RDSProxy", "ClientConnections", {"ProxyName": "orders-proxy"})
    (finding,) = resource_violations(ALARM_RDS_NAMESPACE, METRIC_ALARM, wrong_ns, name="proxy-clients")
    assert "(metric query m1)" in finding.message
    typo = _metric_query("AWS/RDS", "FreeableMemmory", {"DBInstanceIdentifier": "orders-db"})
    assert resource_violations(ALARM_RDS_METRIC_NAME, METRIC_ALARM, typo)
    assert resource_violations(ALARM_RDS_METRIC_NAME, METRIC_ALARM, typo, config={"extraMetricNames": ["FreeableMemmory"]}) == []
    no_proxy_dim = _metric_query("AWS/RDS", "ClientConnections", {"DBInstanceIdentifier": "orders-db"})
    assert resource_violations(ALARM_RDS_DIMENSIONS, METRIC_ALARM, no_proxy_dim)


def test_alarm_actions_string_false_and_unknown_actions():
    alarm = {"namespace": "AWS/RDS", "metricName": "CPUUtilization", "dimensions": {"DBInstanceIdentifier": "db"}}
    assert resource_violations(ALARM_HAS_ACTIONS, METRIC_ALARM, {**alarm, "alarmActions": ["arn:x"], "actionsEnabled": "false"})
    assert resource_violations(ALARM_HAS_ACTIONS, METRIC_ALARM, {**alarm, "alarmActions": UNKNOWN}) == []
    assert resource_violations(ALARM_HAS_ACTIONS, METRIC_ALARM, {"namespace": "AWS/SQS", "metricName": "X"}) == []


def test_replica_lag_alarm_matched_by_known_identifier():
    replica = Resource(INSTANCE, "replica", {"identifier": "orders-replica", "replicateSourceDb": "orders-db"})
    lag = Resource(METRIC_ALARM, "lag", {"namespace": "AWS/RDS", "metricName": "ReplicaLag",
                                         "dimensions": {"DBInstanceIdentifier": "orders-replica"}})
    assert stack_violations(RDS_REPLICA_LAG_ALARM, [replica, lag]) == []
    (finding,) = stack_violations(RDS_REPLICA_LAG_ALARM, [replica])
    assert finding.urn == replica.urn


def test_connections_threshold_against_the_class_default():
    db = Resource(INSTANCE, "db", {"identifier": "orders-db", "instanceClass": "db.r6g.large"})

    def alarm(threshold: float) -> Resource:
        return Resource(METRIC_ALARM, "conn", {"namespace": "AWS/RDS", "metricName": "DatabaseConnections",
                                               "dimensions": {"DBInstanceIdentifier": UNKNOWN}, "threshold": threshold},
                        {"dimensions": ["db"]})

    assert stack_violations(ALARM_CONNECTIONS_BELOW_MAX, [db, alarm(1e6)])
    assert stack_violations(ALARM_CONNECTIONS_BELOW_MAX, [db, alarm(10)]) == []


def _alarm(metric: str, dimensions: dict[str, str], **props: object) -> dict[str, object]:
    return {"namespace": "AWS/RDS", "metricName": metric, "dimensions": dimensions, "statistic": "Average", "period": 60,
            "evaluationPeriods": 3, "comparisonOperator": "GreaterThanThreshold", "threshold": 1, **props}


DB = {"DBInstanceIdentifier": "orders-db"}
PROXY = {"ProxyName": "orders-proxy"}


def test_every_documented_proxy_dimension_set_and_no_other():
    every_set = {s for sets in PROXY_METRIC_DIMENSION_SETS.values() for s in sets}
    assert len(every_set) == 4
    for metric, sets in PROXY_METRIC_DIMENSION_SETS.items():
        for keys in every_set:
            dims = dict.fromkeys(keys, "x")
            found = resource_violations(ALARM_RDS_DIMENSIONS, METRIC_ALARM, _alarm(metric, dims))
            assert bool(found) == (keys not in sets and dimension_problem(metric, keys, single_database=False) is not None), (
                metric, sorted(keys))
    # The same name, two kinds of resource: DatabaseConnections of an instance and of a proxy.
    assert resource_violations(ALARM_RDS_DIMENSIONS, METRIC_ALARM, _alarm("DatabaseConnections", DB)) == []
    assert resource_violations(ALARM_RDS_DIMENSIONS, METRIC_ALARM, _alarm("DatabaseConnections", PROXY)) == []
    (finding,) = resource_violations(ALARM_RDS_DIMENSIONS, METRIC_ALARM,
                                     _alarm("ClientConnections", {**PROXY, "TargetGroup": "default"}))
    assert "{EndpointName, ProxyName}" in finding.message
    # An instance metric with a dimension too many names a series that does not exist; a fleet aggregate does.
    assert resource_violations(ALARM_RDS_DIMENSIONS, METRIC_ALARM, _alarm("CPUUtilization", {**DB, "EngineName": "postgres"}))
    assert resource_violations(ALARM_RDS_DIMENSIONS, METRIC_ALARM, _alarm("CPUUtilization", {"EngineName": "postgres"})) == []


@pytest.mark.parametrize(
    ("props", "bad"),
    [
        ({"period": 60}, False), ({"period": 300}, False), ({"period": 3600, "evaluationPeriods": 24}, False),
        ({"period": 45}, True), ({"period": 90}, True), ({"period": 0}, True),
        ({"period": 10}, True),  # valid for PutMetricAlarm, but RDS data comes once a minute
        ({"period": 60, "evaluationPeriods": 1441}, True),  # > 1 day for a period under an hour
        ({"period": 3600, "evaluationPeriods": 169}, True),  # > 7 days
        ({"period": 3600, "evaluationPeriods": 168}, False),
        ({"evaluationPeriods": 3, "datapointsToAlarm": 4}, True), ({"evaluationPeriods": 3, "datapointsToAlarm": 2}, False),
        ({"evaluationPeriods": 0}, True), ({"period": UNKNOWN}, False),
    ],
)
def test_period_table(props, bad):
    found = resource_violations(ALARM_PERIOD_VALID, METRIC_ALARM, _alarm("CPUUtilization", DB, **props))
    assert bool(found) == bad, [f.message for f in found]


def test_period_of_metric_queries():
    def query(namespace: str, period: int) -> dict[str, object]:
        return {"evaluationPeriods": 3, "comparisonOperator": "GreaterThanThreshold", "threshold": 1, "metricQueries": [
            {"id": "m1", "returnData": True,
             "metric": {"namespace": namespace, "metricName": "CPUUtilization", "dimensions": DB, "period": period,
                        "stat": "Average"}}]}

    assert resource_violations(ALARM_PERIOD_VALID, METRIC_ALARM, query("AWS/RDS", 120)) == []
    (finding,) = resource_violations(ALARM_PERIOD_VALID, METRIC_ALARM, query("AWS/RDS", 5))
    assert "metric query m1" in finding.message and "one value a minute" in finding.message
    assert resource_violations(ALARM_PERIOD_VALID, METRIC_ALARM, query("Custom/App", 5)) == []  # high resolution
    assert resource_violations(ALARM_PERIOD_VALID, METRIC_ALARM, query("Custom/App", 7))


@pytest.mark.parametrize(
    ("metric", "operator", "threshold", "extra", "bad"),
    [
        ("CPUUtilization", "GreaterThanThreshold", 100, {}, True),
        ("CPUUtilization", "GreaterThanOrEqualToThreshold", 100, {}, False),
        ("CPUUtilization", "GreaterThanOrEqualToThreshold", 150, {}, True),
        ("CPUUtilization", "GreaterThanThreshold", 150, {"statistic": "Sum"}, False),  # a sum of percentages
        ("BurstBalance", "LessThanThreshold", 20, {}, False),
        ("FreeStorageSpace", "LessThanThreshold", 0, {}, True),
        ("FreeStorageSpace", "LessThanOrEqualToThreshold", 0, {}, False),
        ("FreeableMemory", "LessThanThreshold", -5, {}, True),
        ("ReplicaLag", "LessThanThreshold", 0, {}, False),  # -1: replication stopped
        ("ClientConnections", "LessThanThreshold", 0, {"dimensions": PROXY}, True),
        ("DatabaseConnections", "GreaterThanThreshold", 100_000, {}, False),  # alarm-connections-below-max's job
    ],
)
def test_threshold_table(metric, operator, threshold, extra, bad):
    props = {**_alarm(metric, DB, comparisonOperator=operator, threshold=threshold), **extra}
    found = resource_violations(ALARM_THRESHOLD_REACHABLE, METRIC_ALARM, props)
    assert bool(found) == bad, [f.message for f in found]


def test_threshold_of_a_metric_query_and_of_an_expression():
    metric = {"namespace": "AWS/RDS", "metricName": "CPUUtilization", "dimensions": DB, "period": 60, "stat": "Maximum"}
    single = {"comparisonOperator": "GreaterThanThreshold", "threshold": 120, "evaluationPeriods": 1,
              "metricQueries": [{"id": "cpu", "returnData": True, "metric": metric}]}
    assert resource_violations(ALARM_THRESHOLD_REACHABLE, METRIC_ALARM, single)
    expression = {**single, "metricQueries": [{"id": "cpu", "metric": metric},
                                              {"id": "e", "expression": "cpu * 2", "returnData": True}]}
    assert resource_violations(ALARM_THRESHOLD_REACHABLE, METRIC_ALARM, expression) == []


@pytest.mark.parametrize(
    ("metric", "dims", "treat", "bad"),
    [
        ("FreeStorageSpace", DB, "notBreaching", True),
        ("CPUUtilization", DB, "ignore", True),
        ("CPUUtilization", DB, "breaching", False),
        ("CPUUtilization", DB, "missing", False),
        ("CPUUtilization", DB, None, False),
        ("CPUUtilization", {"DBClusterIdentifier": "c"}, "notBreaching", True),
        ("CPUUtilization", {"EngineName": "postgres"}, "notBreaching", False),  # a fleet aggregate
        ("ClientConnections", PROXY, "notBreaching", False),  # no clients, no data: that is fine
        ("DatabaseConnections", PROXY, "notBreaching", False),
    ],
)
def test_missing_data_table(metric, dims, treat, bad):
    props = _alarm(metric, dims, **({"treatMissingData": treat} if treat else {}))
    found = resource_violations(ALARM_MISSING_DATA_HIDES_OUTAGE, METRIC_ALARM, props)
    assert bool(found) == bad, [f.message for f in found]


def test_missing_data_through_a_metric_query():
    props = {"treatMissingData": "notBreaching", "metricQueries": [{"id": "free", "returnData": True, "metric": {
        "namespace": "AWS/RDS", "metricName": "FreeStorageSpace", "dimensions": DB, "period": 60, "stat": "Minimum"}}]}
    (finding,) = resource_violations(ALARM_MISSING_DATA_HIDES_OUTAGE, METRIC_ALARM, props)
    assert "(metric query free)" in finding.message


def test_actions_count_and_region():
    six = [f"arn:aws:sns:us-east-1:123456789012:t{i}" for i in range(6)]
    alarm = Resource(METRIC_ALARM, "cpu", {**_alarm("CPUUtilization", DB), "alarmActions": six})
    (finding,) = stack_violations(ALARM_ACTIONS_VALID, [alarm])
    assert "at most 5" in finding.message
    here = Resource(METRIC_ALARM, "cpu", {**_alarm("CPUUtilization", DB), "region": "us-west-2",
                                          "okActions": ["arn:aws:sns:us-west-2:123456789012:ops"]})
    assert stack_violations(ALARM_ACTIONS_VALID, [here]) == []
    # A topic of the stack, referenced by dependency (its ARN unknown), managed in another Region.
    topic = Resource("aws:sns/topic:Topic", "ops", {"region": "eu-west-1", "arn": UNKNOWN})
    there = Resource(METRIC_ALARM, "cpu", {**_alarm("CPUUtilization", DB), "region": "us-west-2",
                                           "insufficientDataActions": [UNKNOWN]}, {"insufficientDataActions": ["ops"]})
    (finding,) = stack_violations(ALARM_ACTIONS_VALID, [topic, there])
    assert "us-west-2" in finding.message and "eu-west-1" in finding.message
    # Neither Region known (the default provider): no verdict.
    unknown_region = Resource(METRIC_ALARM, "cpu", {**_alarm("CPUUtilization", DB),
                                                    "alarmActions": ["arn:aws:sns:eu-west-1:123456789012:ops"]})
    assert stack_violations(ALARM_ACTIONS_VALID, [unknown_region]) == []

