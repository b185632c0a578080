"""policies/rules/monitoring.py: alarms that can fire on RDS and RDS Proxy metrics."""

from __future__ import annotations

import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, Resource, resource_violations, stack_violations
from policy_harness import CLEAN, check, clean_setup

from policies.rules import monitoring
from policies.rules.monitoring import (
    ALARM_CONNECTIONS_BELOW_MAX,
    ALARM_HAS_ACTIONS,
    ALARM_RDS_DIMENSIONS,
    ALARM_RDS_METRIC_NAME,
    ALARM_RDS_NAMESPACE,
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
