"""Monitoring: CloudWatch alarms on RDS and RDS Proxy metrics that can actually fire, and page someone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyConfigSchema, ReportViolation, Severity

from . import rds_facts
from .config_schemas import string_list_schema
from .policy_factory import Config, Props, resource_policy, stack_policy
from .property_values import as_bool, as_list, as_number, as_str, is_unknown
from .rds_lookups import is_replica, parameter_group_of, parameters_of
from .resource_types import INSTANCE, METRIC_ALARM, label
from .stack_index import Res, StackIndex

RDS_NAMESPACE = "AWS/RDS"

#: Metrics RDS publishes per DB instance / cluster (RDS for PostgreSQL, MySQL, Aurora) in AWS/RDS.
INSTANCE_METRICS = frozenset(
    {
        "ACUUtilization", "AuroraBinlogReplicaLag", "AuroraReplicaLag", "AuroraReplicaLagMaximum",
        "AuroraReplicaLagMinimum", "BinLogDiskUsage", "BufferCacheHitRatio", "BurstBalance", "CheckpointLag",
        "CommitLatency", "CommitThroughput", "ConnectionAttempts", "CPUCreditBalance", "CPUCreditUsage",
        "CPUSurplusCreditBalance", "CPUSurplusCreditsCharged", "CPUUtilization", "DatabaseConnections", "DBLoad",
        "DBLoadCPU", "DBLoadNonCPU", "DBLoadRelativeToNumVCPUs", "Deadlocks", "DiskQueueDepth",
        "DiskQueueDepthLogVolume", "EBSByteBalance%", "EBSIOBalance%", "EngineUptime", "FreeableMemory",
        "FreeLocalStorage", "FreeStorageSpace", "FreeStorageSpaceLogVolume", "MaximumUsedTransactionIDs",
        "NetworkReceiveThroughput", "NetworkThroughput", "NetworkTransmitThroughput", "OldestLogicalReplicationSlotLag",
        "OldestReplicationSlotLag", "ReadIOPS", "ReadIOPSLocalStorage", "ReadIOPSLogVolume", "ReadLatency",
        "ReadLatencyLocalStorage", "ReadLatencyLogVolume", "ReadThroughput", "ReadThroughputLogVolume", "ReplicaLag",
        "ReplicationChannelLag", "ReplicationSlotDiskUsage", "ServerlessDatabaseCapacity", "SwapUsage",
        "TransactionLogsDiskUsage", "TransactionLogsGeneration", "VolumeBytesUsed", "VolumeReadIOPs",
        "VolumeWriteIOPs", "WriteIOPS", "WriteIOPSLocalStorage", "WriteIOPSLogVolume", "WriteLatency",
        "WriteLatencyLocalStorage", "WriteLatencyLogVolume", "WriteThroughput", "WriteThroughputLogVolume",
    }
)
#: Metrics RDS Proxy publishes, also in AWS/RDS, with dimension ProxyName.
PROXY_METRICS = frozenset(
    {
        "AvailabilityPercentage", "ClientConnections", "ClientConnectionsClosed", "ClientConnectionsNoTLS",
        "ClientConnectionsReceived", "ClientConnectionsSetupFailedAuth", "ClientConnectionsSetupSucceeded",
        "ClientConnectionsTLS", "DatabaseConnectionRequests", "DatabaseConnectionRequestsWithTLS",
        "DatabaseConnections", "DatabaseConnectionsBorrowLatency", "DatabaseConnectionsCurrentlyBorrowed",
        "DatabaseConnectionsCurrentlyInTransaction", "DatabaseConnectionsCurrentlySessionPinned",
        "DatabaseConnectionsSetupFailed", "DatabaseConnectionsSetupSucceeded", "DatabaseConnectionsWithTLS",
        "MaxDatabaseConnectionsAllowed", "QueryDatabaseResponseLatency", "QueryRequests", "QueryRequestsNoTLS",
        "QueryRequestsTLS", "QueryResponseLatency",
    }
)
INSTANCE_DIMENSIONS = (
    "DBInstanceIdentifier",
    "DBClusterIdentifier",
    "DatabaseClass",
    "EngineName",
    "SourceRegion",
    "DbClusterIdentifier",
)
PROXY_DIMENSIONS = ("ProxyName",)


@dataclass
class Metric:
    """One metric an alarm watches: the alarm's own, or one of its metric-math queries."""

    where: str
    namespace: Any
    name: Any
    dimensions: Any


def _metrics(alarm: Mapping[str, Any]) -> list[Metric]:
    out = []
    if alarm.get("metricName") is not None or alarm.get("namespace") is not None:
        out.append(Metric("", alarm.get("namespace"), alarm.get("metricName"), alarm.get("dimensions")))
    for query in as_list(alarm.get("metricQueries")):
        if isinstance(query, dict) and isinstance(query.get("metric"), dict):
            metric = query["metric"]
            qid = query.get("id") if isinstance(query.get("id"), str) else "?"
            where = f" (metric query {qid})"
            out.append(Metric(where, metric.get("namespace"), metric.get("metricName"), metric.get("dimensions")))
    return out


def _is_rds_related(metric: Metric) -> bool:
    ns = metric.namespace
    if isinstance(ns, str) and "rds" in ns.lower():
        return True
    dims = metric.dimensions if isinstance(metric.dimensions, dict) else {}
    return any(k in dims for k in (*INSTANCE_DIMENSIONS, *PROXY_DIMENSIONS))


def _is_rds_alarm(props: Mapping[str, Any]) -> bool:
    return any(_is_rds_related(m) for m in _metrics(props))


# --- alarm-rds-namespace -------------------------------------------------------------------------------


def _check_namespace(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    for metric in _metrics(props):
        ns = metric.namespace
        if not isinstance(ns, str) or ns == RDS_NAMESPACE or not _is_rds_related(metric):
            continue
        proxy = isinstance(metric.dimensions, dict) and "ProxyName" in metric.dimensions
        report(
            f"{label(type_, name)}{metric.where} watches {metric.name} in namespace {ns!r}. RDS "
            f"{'Proxy ' if proxy else ''}metrics are published only in {RDS_NAMESPACE!r}, so this alarm never "
            f"leaves INSUFFICIENT_DATA and never pages; set namespace = {RDS_NAMESPACE!r}.",
            None,
        )


# --- alarm-rds-metric-name -----------------------------------------------------------------------------


def _check_metric_name(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    extra = set(config.get("extraMetricNames") or [])
    for metric in _metrics(props):
        if not isinstance(metric.namespace, str) or not metric.namespace.startswith(RDS_NAMESPACE):
            continue
        if not isinstance(metric.name, str) or metric.name in INSTANCE_METRICS | PROXY_METRICS | extra:
            continue
        report(
            f"{label(type_, name)}{metric.where} watches metric {metric.name!r}, which neither RDS nor RDS Proxy "
            "publishes: the alarm never has data and never fires. Use a published metric name (e.g. "
            "DatabaseConnections, ReplicaLag, ClientConnections), or list it in extraMetricNames.",
            None,
        )


# --- alarm-rds-dimensions -------------------------------------------------------------------------------


def _check_dimensions(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    for metric in _metrics(props):
        if metric.namespace != RDS_NAMESPACE or not isinstance(metric.name, str):
            continue
        dims = metric.dimensions
        if is_unknown(dims):
            continue
        keys = set(dims) if isinstance(dims, dict) else set()
        proxy_only = metric.name in PROXY_METRICS and metric.name not in INSTANCE_METRICS
        instance_only = metric.name in INSTANCE_METRICS and metric.name not in PROXY_METRICS
        if proxy_only and "ProxyName" not in keys:
            need = "ProxyName (RDS Proxy metrics exist only per proxy)"
        elif instance_only and not keys & set(INSTANCE_DIMENSIONS):
            need = "DBInstanceIdentifier (or DBClusterIdentifier)"
        elif not proxy_only and not instance_only and not keys & {*INSTANCE_DIMENSIONS, *PROXY_DIMENSIONS}:
            need = "DBInstanceIdentifier for the database or ProxyName for the proxy"
        else:
            continue
        shown = ", ".join(sorted(keys)) or "none"
        report(
            f"{label(type_, name)}{metric.where} watches {metric.name} with dimensions [{shown}] but needs {need}. "
            "Without them the alarm watches a series that does not exist, or the region-wide aggregate, and "
            "misses the database it is meant for; add the dimension.",
            None,
        )


# --- alarm-has-actions ---------------------------------------------------------------------------------


def _check_actions(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    if not _is_rds_alarm(props):
        return
    actions = props.get("alarmActions")
    if is_unknown(actions):
        return
    enabled = props.get("actionsEnabled")
    if as_bool(enabled) is False:
        report(
            f"{label(type_, name)} has actionsEnabled = false: it changes state but notifies nobody. Enable actions.",
            None,
        )
        return
    if not as_list(actions):
        report(
            f"{label(type_, name)} has no alarmActions: when the database is in trouble the alarm turns red on a "
            "dashboard nobody watches. Add an SNS topic (or another action) to alarmActions.",
            None,
        )


# --- Stack checks on alarms -----------------------------------------------------------------------------


def _instance_alarms(index: StackIndex, metric_name: str) -> dict[str, list[Res]]:
    """AWS/RDS alarms on *metric_name* with a DBInstanceIdentifier, keyed by the instance URNs their
    dimensions depend on and by the identifier value when it is known."""
    keyed: dict[str, list[Res]] = {}
    for alarm in index.of_type(METRIC_ALARM):
        if alarm.props.get("namespace") != RDS_NAMESPACE or alarm.props.get("metricName") != metric_name:
            continue
        dims = alarm.props.get("dimensions")
        if not isinstance(dims, dict) or "DBInstanceIdentifier" not in dims:
            continue
        keys = set(alarm.deps("dimensions"))
        if isinstance(dims["DBInstanceIdentifier"], str):
            keys.add("id:" + dims["DBInstanceIdentifier"])
        for key in keys:
            keyed.setdefault(key, []).append(alarm)
    return keyed


def _alarms_for(keyed: dict[str, list[Res]], instance: Res) -> list[Res]:
    found = {a.urn: a for a in keyed.get(instance.urn, [])}
    identifier = instance.props.get("identifier")
    if isinstance(identifier, str):
        found.update({a.urn: a for a in keyed.get("id:" + identifier, [])})
    return list(found.values())


def _check_replica_lag(index: StackIndex, config: Config, report: ReportViolation) -> None:
    keyed = _instance_alarms(index, "ReplicaLag")
    for inst in index.of_type(INSTANCE):
        if not is_replica(inst.props):
            continue
        if _alarms_for(keyed, inst):
            continue
        report(
            f"{label(inst.type, inst.name)} is a read replica with no ReplicaLag alarm (namespace AWS/RDS, dimension "
            "DBInstanceIdentifier of this replica). A replica that falls behind serves stale reads, and it cannot "
            "be promoted safely; add the alarm.",
            inst.urn,
        )


def effective_max_connections(index: StackIndex, inst: Res) -> int | None:
    cls = as_str(inst.props.get("instanceClass"))
    if cls is None:
        return None
    try:
        default = rds_facts.default_max_connections(cls)
    except rds_facts.UnknownInstanceClass:
        return None
    param = parameters_of(parameter_group_of(index, inst)).get("max_connections")
    if param is None:
        return default
    try:
        return int(rds_facts.evaluate_parameter_value(str(param.get("value")), cls))
    except rds_facts.FormulaError:
        return None


def _check_connections_threshold(index: StackIndex, config: Config, report: ReportViolation) -> None:
    percent = float(config["maxThresholdPercent"])
    keyed = _instance_alarms(index, "DatabaseConnections")
    for inst in index.of_type(INSTANCE):
        max_connections = None
        for alarm in _alarms_for(keyed, inst):
            threshold = as_number(alarm.props.get("threshold"))
            if threshold is None:
                continue
            if max_connections is None:
                max_connections = effective_max_connections(index, inst)
                if max_connections is None:
                    break
            limit = max_connections * percent / 100
            if threshold >= limit:
                report(
                    f"{label(alarm.type, alarm.name)} fires at DatabaseConnections {threshold:g}, but "
                    f"{label(inst.type, inst.name)} accepts at most {max_connections} connections (limit for the "
                    f"threshold: below {limit:g}). It can only fire after clients already get "
                    '"too many connections"; derive the threshold from max_connections (e.g. 80 %).',
                    alarm.urn,
                )


ALARM_RDS_NAMESPACE = resource_policy(
    "alarm-rds-namespace",
    "Alarms on RDS and RDS Proxy metrics use the AWS/RDS namespace.",
    (METRIC_ALARM,),
    _check_namespace,
    severity=Severity.HIGH,
    remediation='Set namespace = "AWS/RDS".',
)


ALARM_RDS_METRIC_NAME = resource_policy(
    "alarm-rds-metric-name",
    "Alarms in AWS/RDS watch metrics RDS or RDS Proxy actually publish.",
    (METRIC_ALARM,),
    _check_metric_name,
    severity=Severity.MEDIUM,
    schema=string_list_schema("extraMetricNames", "More metric names to accept in AWS/RDS (new metrics AWS added)."),
    remediation="Use a published RDS / RDS Proxy metric name.",
)


ALARM_RDS_DIMENSIONS = resource_policy(
    "alarm-rds-dimensions",
    "Alarms on RDS metrics name the instance (DBInstanceIdentifier) and on RDS Proxy metrics the proxy (ProxyName).",
    (METRIC_ALARM,),
    _check_dimensions,
    severity=Severity.MEDIUM,
    remediation="Add the DBInstanceIdentifier or ProxyName dimension.",
)


ALARM_HAS_ACTIONS = resource_policy(
    "alarm-has-actions",
    "Alarms on RDS and RDS Proxy metrics notify someone (alarmActions set, actions enabled).",
    (METRIC_ALARM,),
    _check_actions,
    severity=Severity.MEDIUM,
    remediation="Add an SNS topic to alarmActions.",
)


RDS_REPLICA_LAG_ALARM = stack_policy(
    "rds-replica-lag-alarm",
    "Every read replica has a ReplicaLag alarm.",
    (INSTANCE,),
    _check_replica_lag,
    severity=Severity.MEDIUM,
    remediation="Add a ReplicaLag alarm with the replica's DBInstanceIdentifier.",
)


ALARM_CONNECTIONS_BELOW_MAX = stack_policy(
    "alarm-connections-below-max",
    "DatabaseConnections alarm thresholds are below the instance's max_connections.",
    (METRIC_ALARM,),
    _check_connections_threshold,
    severity=Severity.MEDIUM,
    schema=PolicyConfigSchema(
        properties={
            "maxThresholdPercent": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 100,
                "default": 100,
                "description": "A threshold at or above this share of max_connections is a violation.",
            },
        }
    ),
    remediation="Set the threshold to a share of max_connections (components.sizing.alarm_thresholds).",
)
