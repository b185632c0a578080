"""Monitoring: CloudWatch alarms on RDS and RDS Proxy metrics that can actually fire, and page someone.

An alarm fires only if the series it watches exists (namespace, metric name and the WHOLE dimension
set, see :mod:`.metric_catalog`), it is evaluated at a period the data has, its threshold is inside the
metric's range, missing data does not read as OK while the database is down, and its actions can be
delivered.  Sources: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data,
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html,
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.monitoring.html.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyConfigSchema, ReportViolation, Severity

from . import rds_facts
from .config_schemas import string_list_schema
from .metric_catalog import (
    INSTANCE_DIMENSIONS,
    INSTANCE_METRICS,
    METRIC_RESOLUTION_S,
    PERCENT_METRICS,
    PROXY_DIMENSIONS,
    PROXY_METRICS,
    RDS_NAMESPACE,
    SINGLE_DATABASE_SETS,
    dimension_problem,
)
from .policy_factory import Config, Props, resource_policy, stack_policy
from .property_values import as_bool, as_list, as_number, as_str, is_unknown
from .rds_lookups import is_replica, parameter_group_of, parameters_of
from .resource_types import INSTANCE, METRIC_ALARM, label
from .stack_index import Res, StackIndex

SNS_TOPIC = "aws:sns/topic:Topic"
_ACTION_LISTS = ("alarmActions", "okActions", "insufficientDataActions")
#: PutMetricAlarm: at most five actions per state.
MAX_ACTIONS = 5
#: Lag metrics read -1 while replication is not running: the only RDS metrics below zero.
_LAG_METRICS = frozenset({"ReplicaLag", "ReplicationChannelLag", "AuroraReplicaLag", "AuroraReplicaLagMaximum",
                          "AuroraReplicaLagMinimum", "AuroraBinlogReplicaLag"})
_GREATER = ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold")


@dataclass
class Metric:
    """One metric an alarm watches: the alarm's own, or one of its metric-math queries."""

    where: str
    namespace: Any
    name: Any
    dimensions: Any
    period: Any = None
    stat: Any = None
    #: For a query: whether it is the series the alarm compares with its threshold.
    returns: bool = True
    query: bool = False


def _metrics(alarm: Mapping[str, Any]) -> list[Metric]:
    out = []
    if alarm.get("metricName") is not None or alarm.get("namespace") is not None:
        stat = alarm.get("statistic") if alarm.get("statistic") is not None else alarm.get("extendedStatistic")
        out.append(Metric("", alarm.get("namespace"), alarm.get("metricName"), alarm.get("dimensions"),
                          alarm.get("period"), stat))
    queries = [q for q in as_list(alarm.get("metricQueries")) if isinstance(q, dict)]
    for query in queries:
        if isinstance(query.get("metric"), dict):
            metric = query["metric"]
            qid = query.get("id") if isinstance(query.get("id"), str) else "?"
            returns = as_bool(query.get("returnData")) is True or len(queries) == 1
            out.append(Metric(f" (metric query {qid})", metric.get("namespace"), metric.get("metricName"),
                              metric.get("dimensions"), metric.get("period"), metric.get("stat"), returns, True))
    return out


def _evaluated(alarm: Mapping[str, Any]) -> Metric | None:
    """The metric the threshold is compared with, when it is a plain metric (not an expression)."""
    returning = [m for m in _metrics(alarm) if m.returns]
    return returning[0] if len(returning) == 1 else None


def _keys(metric: Metric) -> frozenset[str] | None:
    return frozenset(metric.dimensions) if isinstance(metric.dimensions, dict) else None


def _is_rds_related(metric: Metric) -> bool:
    ns = metric.namespace
    if isinstance(ns, str) and "rds" in ns.lower():
        return True
    dims = metric.dimensions if isinstance(metric.dimensions, dict) else {}
    return any(k in INSTANCE_DIMENSIONS or k in PROXY_DIMENSIONS for k in dims)


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
        if not isinstance(metric.name, str) or metric.name in INSTANCE_METRICS or metric.name in PROXY_METRICS | extra:
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
        if metric.namespace != RDS_NAMESPACE or not isinstance(metric.name, str) or is_unknown(metric.dimensions):
            continue
        keys = _keys(metric) or frozenset()
        # Class-, engine- or Region-wide aggregates exist too: a fleet alarm is a legitimate design.
        need = dimension_problem(metric.name, keys, single_database=False)
        if need is None:
            continue
        shown = ", ".join(sorted(keys)) or "none"
        report(
            f"{label(type_, name)}{metric.where} watches {metric.name} with dimensions [{shown}], a series AWS/RDS "
            f"does not publish (it needs {need}): the alarm never has data and never fires. Use the documented "
            "dimension set (DBInstanceIdentifier for a database, ProxyName for a proxy).",
            None,
        )


# --- alarm-period-valid --------------------------------------------------------------------------------


def _alarm_period_ok(period: float) -> bool:
    return period in (10, 20, 30) or (period >= 60 and period % 60 == 0)


def _query_period_ok(period: float) -> bool:
    return period in (1, 5, 10, 20, 30) or (period >= 60 and period % 60 == 0)


def _check_period(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    problems: list[str] = []
    periods: list[float] = []
    for metric in _metrics(props):
        period = as_number(metric.period)
        if period is None:
            continue
        periods.append(period)
        valid = _query_period_ok(period) if metric.query else _alarm_period_ok(period)
        allowed = "1, 5, 10, 20, 30 or a multiple of 60" if metric.query else "10, 20, 30 or a multiple of 60"
        if not valid:
            problems.append(f"{metric.where.strip() or 'the alarm'} has period {period:g} s; PutMetricAlarm accepts {allowed}, "
                            "so the deploy fails")
        elif period < METRIC_RESOLUTION_S and metric.namespace == RDS_NAMESPACE:
            problems.append(f"{metric.where.strip() or 'the alarm'} evaluates {metric.name} every {period:g} s, but RDS "
                            "publishes one value a minute: most evaluations find no data and the alarm lapses into "
                            "INSUFFICIENT_DATA instead of firing")
    evaluations = as_number(props.get("evaluationPeriods"))
    if evaluations is not None and evaluations < 1:
        problems.append(f"evaluationPeriods is {evaluations:g}; it must be at least 1")
    if evaluations is not None and evaluations >= 1 and periods:
        length = max(periods)
        total = length * evaluations
        cap = 86_400 if length < 3_600 else 604_800
        if total > cap:
            problems.append(f"period x evaluationPeriods = {total:g} s exceeds {cap:,} s, the longest window "
                            "PutMetricAlarm accepts for that period")
    datapoints = as_number(props.get("datapointsToAlarm"))
    if datapoints is not None and evaluations is not None and not 1 <= datapoints <= evaluations:
        problems.append(f"datapointsToAlarm {datapoints:g} is outside 1..evaluationPeriods ({evaluations:g}): "
                        "PutMetricAlarm rejects it")
    for problem in problems:
        report(f"{label(type_, name)}: {problem}. Use a period of 60 s or a multiple, and M-of-N with M <= N.", None)


# --- alarm-threshold-reachable -------------------------------------------------------------------------


def _check_threshold(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    metric = _evaluated(props)
    if metric is None or metric.namespace != RDS_NAMESPACE or not isinstance(metric.name, str):
        return
    operator = props.get("comparisonOperator")
    threshold = as_number(props.get("threshold"))
    if not isinstance(operator, str) or threshold is None:
        return
    never = None
    # Sum and SampleCount of a percentage add up several values and may exceed 100.
    stat = metric.stat if isinstance(metric.stat, str) else ""
    above_100 = (operator == "GreaterThanThreshold" and threshold >= 100) or (
        operator == "GreaterThanOrEqualToThreshold" and threshold > 100
    )
    if metric.name in PERCENT_METRICS and stat not in ("Sum", "SampleCount") and above_100:
        never = f"{metric.name} is a percentage (0-100)"
    elif metric.name not in _LAG_METRICS and (
        (operator == "LessThanThreshold" and threshold <= 0) or (operator == "LessThanOrEqualToThreshold" and threshold < 0)
    ):
        never = f"{metric.name} is never negative"
    if never is None:
        return
    report(
        f"{label(type_, name)} fires when {metric.name} is {operator.removesuffix('Threshold')} {threshold:g}, but "
        f"{never}: the threshold cannot be reached and the alarm never fires. Set a threshold inside the "
        "metric's range.",
        None,
    )


# --- alarm-missing-data-hides-outage --------------------------------------------------------------------


def _check_missing_data(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    treat = props.get("treatMissingData")
    if treat not in ("notBreaching", "ignore"):
        return  # missing (the default) turns silence into INSUFFICIENT_DATA, breaching into ALARM
    for metric in _metrics(props):
        if metric.namespace != RDS_NAMESPACE or metric.name not in INSTANCE_METRICS or _keys(metric) not in SINGLE_DATABASE_SETS:
            continue
        effect = "counts the silence as OK" if treat == "notBreaching" else "keeps its last state, usually OK"
        report(
            f"{label(type_, name)}{metric.where} watches {metric.name} of one database with treatMissingData = "
            f"{treat!r}. RDS stops publishing the database's metrics while it is down (crash, storage-full shutdown, "
            f"failed restart), and this alarm then {effect}: it shows OK during the outage. Use 'breaching' (or "
            "the default 'missing', which shows INSUFFICIENT_DATA).",
            None,
        )
        return


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


def _instance_alarms(index: StackIndex, metric_name: str, *, compared_only: bool = False) -> dict[str, list[Res]]:
    """AWS/RDS alarms on *metric_name* with a DBInstanceIdentifier (their own metric or a metric-math
    query; *compared_only*: the series the threshold is compared with), keyed by the instance URNs
    the dimensions depend on and by the identifier value when it is known."""
    keyed: dict[str, list[Res]] = {}
    for alarm in index.of_type(METRIC_ALARM):
        for metric in _metrics(alarm.props):
            if metric.namespace != RDS_NAMESPACE or metric.name != metric_name or (compared_only and not metric.returns):
                continue
            dims = metric.dimensions
            if not isinstance(dims, dict) or "DBInstanceIdentifier" not in dims:
                continue
            keys = set(alarm.deps("metricQueries" if metric.query else "dimensions"))
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
    keyed = _instance_alarms(index, "DatabaseConnections", compared_only=True)
    for inst in index.of_type(INSTANCE):
        max_connections = None
        for alarm in _alarms_for(keyed, inst):
            threshold = as_number(alarm.props.get("threshold"))
            operator = alarm.props.get("comparisonOperator")
            if threshold is None or (isinstance(operator, str) and operator not in _GREATER):
                continue  # a "too few connections" alarm is not bounded by max_connections
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


# --- alarm-actions-valid ---------------------------------------------------------------------------------

_SNS_ARN = re.compile(r"^arn:[^:]+:sns:([a-z0-9-]+):")


def _region_of(res: Res) -> str | None:
    """The Region a resource is managed in: its own ``region`` property, else its provider's."""
    for source in (res.props, res.provider_props or {}):
        region = source.get("region")
        if isinstance(region, str) and region:
            return region
    return None


def _topic_region(topic: Res) -> str | None:
    """Where a topic lives: its own or its provider's Region, else the Region in its ARN."""
    region = _region_of(topic)
    arn = topic.props.get("arn")
    match = _SNS_ARN.match(arn) if region is None and isinstance(arn, str) else None
    return match.group(1) if match else region


def _check_alarm_actions(index: StackIndex, config: Config, report: ReportViolation) -> None:
    topics_by_arn = {t.props["arn"]: t for t in index.of_type(SNS_TOPIC) if isinstance(t.props.get("arn"), str)}
    for alarm in index.of_type(METRIC_ALARM):
        where = label(alarm.type, alarm.name)
        for prop in _ACTION_LISTS:
            actions = alarm.props.get(prop)
            if isinstance(actions, list) and len(actions) > MAX_ACTIONS:
                report(f"{where} has {len(actions)} {prop}; PutMetricAlarm accepts at most {MAX_ACTIONS} per state, so "
                       "the deploy fails. Send them to one SNS topic and subscribe the others to it.", alarm.urn)
        alarm_region = _region_of(alarm)
        if alarm_region is None:
            continue
        elsewhere: dict[str, str] = {}

        def note(topic: Res, alarm_region: str = alarm_region, elsewhere: dict[str, str] = elsewhere) -> None:
            region = _topic_region(topic)
            if region is not None and region != alarm_region:
                arn = topic.props.get("arn")
                elsewhere[arn if isinstance(arn, str) else label(topic.type, topic.name)] = region

        for prop in _ACTION_LISTS:
            for value in as_list(alarm.props.get(prop)):
                if not isinstance(value, str):
                    continue
                if value in topics_by_arn:
                    note(topics_by_arn[value])
                    continue
                match = _SNS_ARN.match(value)
                if match and match.group(1) != alarm_region:
                    elsewhere[value] = match.group(1)
            for urn in alarm.deps(prop):
                topic = index.by_urn.get(urn)
                if topic is not None and topic.type == SNS_TOPIC:
                    note(topic)
        if elsewhere:
            shown = ", ".join(f"{target} ({region})" for target, region in sorted(elsewhere.items()))
            report(
                f"{where} is in {alarm_region} but notifies {shown}: CloudWatch alarms publish only to SNS topics of "
                f"their own Region, so PutMetricAlarm fails (\"Invalid region\"). Use a topic in {alarm_region}.",
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
    "Alarms on RDS and RDS Proxy metrics use a dimension set AWS/RDS publishes that metric with (e.g. "
    "DBInstanceIdentifier; ProxyName, ProxyName+EndpointName, ProxyName+TargetGroup+Target or +TargetRole per metric).",
    (METRIC_ALARM,),
    _check_dimensions,
    severity=Severity.MEDIUM,
    remediation="Use the documented dimension set: DBInstanceIdentifier for a database, ProxyName for a proxy.",
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


ALARM_PERIOD_VALID = resource_policy(
    "alarm-period-valid",
    "Alarm periods, evaluation windows and M-of-N settings are ones PutMetricAlarm accepts and RDS data can fill.",
    (METRIC_ALARM,),
    _check_period,
    severity=Severity.HIGH,
    remediation="Use a period of 60 s or a multiple, evaluationPeriods >= 1, datapointsToAlarm <= evaluationPeriods.",
)


ALARM_THRESHOLD_REACHABLE = resource_policy(
    "alarm-threshold-reachable",
    "Alarm thresholds on RDS metrics lie inside the metric's range (percentages 0-100, no negative sizes or counts).",
    (METRIC_ALARM,),
    _check_threshold,
    severity=Severity.HIGH,
    remediation="Set a threshold the metric can reach.",
)


ALARM_MISSING_DATA_HIDES_OUTAGE = resource_policy(
    "alarm-missing-data-hides-outage",
    "Alarms on one database's metrics do not treat missing data as OK (notBreaching) or as no change (ignore).",
    (METRIC_ALARM,),
    _check_missing_data,
    severity=Severity.HIGH,
    remediation="treatMissingData = 'breaching' (or leave the default 'missing').",
)


ALARM_ACTIONS_VALID = stack_policy(
    "alarm-actions-valid",
    "Alarm actions are at most five per state and SNS topics of the alarm's own Region.",
    (METRIC_ALARM,),
    _check_alarm_actions,
    severity=Severity.HIGH,
    remediation="Publish to one SNS topic in the alarm's Region.",
)
