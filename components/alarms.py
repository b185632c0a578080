"""Alarms: CloudWatch alarms sized from the connection budget, publishing to SNS.

Every threshold comes from :mod:`components.sizing` (via the stack config); none
is typed in here.  RDS Proxy publishes its metrics in the ``AWS/RDS`` namespace
with the ``ProxyName`` dimension (there is no ``AWS/RDS/Proxy`` namespace: the
seed's proxy alarm could never fire).  Every alarm notifies on ALARM and on OK
and says what missing data means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

from components import sizing
from components.credentials import account_root_key_policy

NAMESPACE_RDS = "AWS/RDS"


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm, as plain data, so tests and the plan can read it without Pulumi."""

    suffix: str
    description: str
    metric_name: str
    dimension: str
    comparison_operator: str
    threshold: float
    statistic: str
    period_s: int
    evaluation_periods: int
    #: "breaching" where silence means the resource stopped reporting (down), else "notBreaching".
    treat_missing_data: str


def primary_alarm_specs(thresholds: sizing.AlarmThresholds) -> list[AlarmSpec]:
    return [
        AlarmSpec(
            "db-connections",
            "Database connections near max_connections: new connections will fail with 'too many connections'",
            "DatabaseConnections",
            "DBInstanceIdentifier",
            "GreaterThanOrEqualToThreshold",
            thresholds.database_connections,
            "Maximum",
            60,
            3,
            "breaching",
        ),
        AlarmSpec(
            "cpu",
            "CPU utilization of the primary is high",
            "CPUUtilization",
            "DBInstanceIdentifier",
            "GreaterThanOrEqualToThreshold",
            thresholds.cpu_percent,
            "Average",
            300,
            3,
            "breaching",
        ),
        AlarmSpec(
            "freeable-memory",
            "Freeable memory of the primary is low (too many connections or work_mem too large)",
            "FreeableMemory",
            "DBInstanceIdentifier",
            "LessThanOrEqualToThreshold",
            thresholds.freeable_memory_bytes,
            "Minimum",
            300,
            2,
            "breaching",
        ),
        AlarmSpec(
            "free-storage",
            "Free storage of the primary is low",
            "FreeStorageSpace",
            "DBInstanceIdentifier",
            "LessThanOrEqualToThreshold",
            thresholds.free_storage_bytes,
            "Minimum",
            300,
            2,
            "breaching",
        ),
    ]


def proxy_alarm_specs(thresholds: sizing.AlarmThresholds, borrow_latency_threshold_us: int) -> list[AlarmSpec]:
    return [
        AlarmSpec(
            "proxy-client-connections",
            "Client connections to RDS Proxy above the expected workload (a runaway deployment or leaked pools)",
            "ClientConnections",
            "ProxyName",
            "GreaterThanThreshold",
            thresholds.proxy_client_connections,
            # Published per proxy node: Sum is the proxy's total (Maximum would be one node's share).
            "Sum",
            60,
            3,
            # No clients, no datapoints: that is not a problem for this alarm.
            "notBreaching",
        ),
        AlarmSpec(
            "proxy-borrow-latency",
            "RDS Proxy waits to borrow database connections: the pool is saturated or pinned",
            "DatabaseConnectionsBorrowLatency",
            "ProxyName",
            "GreaterThanThreshold",
            borrow_latency_threshold_us,
            "Average",
            60,
            5,
            "notBreaching",
        ),
    ]


def replica_lag_spec(replica_lag_s: int) -> AlarmSpec:
    return AlarmSpec(
        "replica-lag",
        "Read replica lags behind the primary: readers see stale data",
        "ReplicaLag",
        "DBInstanceIdentifier",
        "GreaterThanThreshold",
        replica_lag_s,
        "Maximum",
        60,
        3,
        # A replica that stopped replicating may stop reporting the metric.
        "breaching",
    )


@dataclass(frozen=True)
class AlarmsArgs:
    prefix: str
    thresholds: sizing.AlarmThresholds
    borrow_latency_threshold_us: int
    replica_lag_s: int
    primary_identifier: pulumi.Input[str]
    replica_identifiers: Sequence[pulumi.Input[str]]
    proxy_name: pulumi.Input[str]
    #: Publish to this existing topic; None creates an encrypted topic here.
    sns_topic_arn: str | None = None
    #: Subscribe this address to the created topic.
    email: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


class Alarms(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: AlarmsArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("resilient-rds:alarms:Alarms", name, None, opts)
        child = ResourceOptions(parent=self)

        if args.sns_topic_arn is not None:
            topic_arn: pulumi.Output[str] = pulumi.Output.from_input(args.sns_topic_arn)
        else:
            topic_arn = self._create_topic(name, args, child)

        self.alarms = []

        def alarm(spec: AlarmSpec, suffix: str, dimension_value: pulumi.Input[str]) -> None:
            alarm_name = f"{args.prefix}-{suffix}"
            self.alarms.append(
                aws.cloudwatch.MetricAlarm(
                    f"{name}-{suffix}",
                    name=alarm_name,
                    alarm_description=spec.description,
                    namespace=NAMESPACE_RDS,
                    metric_name=spec.metric_name,
                    dimensions={spec.dimension: dimension_value},
                    comparison_operator=spec.comparison_operator,
                    threshold=spec.threshold,
                    statistic=spec.statistic,
                    period=spec.period_s,
                    evaluation_periods=spec.evaluation_periods,
                    datapoints_to_alarm=spec.evaluation_periods,
                    treat_missing_data=spec.treat_missing_data,
                    alarm_actions=[topic_arn],
                    ok_actions=[topic_arn],
                    tags={**args.tags, "Name": alarm_name},
                    opts=child,
                )
            )

        for spec in primary_alarm_specs(args.thresholds):
            alarm(spec, spec.suffix, args.primary_identifier)
        for spec in proxy_alarm_specs(args.thresholds, args.borrow_latency_threshold_us):
            alarm(spec, spec.suffix, args.proxy_name)
        lag = replica_lag_spec(args.replica_lag_s)
        for index, replica_identifier in enumerate(args.replica_identifiers):
            alarm(lag, f"{lag.suffix}-{index + 1}", replica_identifier)

        self.topic_arn = topic_arn
        self.register_outputs({"topicArn": self.topic_arn})

    def _create_topic(self, name: str, args: AlarmsArgs, child: ResourceOptions) -> pulumi.Output[str]:
        invoke = pulumi.InvokeOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)
        # CloudWatch (alarms) and RDS (event notifications) publish to an encrypted topic only if the
        # key lets them use it; the AWS-managed aws/sns key does not, hence a customer key with these.
        service_statements: list[dict[str, object]] = [
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            }
            for sid, service in (
                ("CloudWatchAlarmsPublishToEncryptedTopic", "cloudwatch.amazonaws.com"),
                ("RdsEventsPublishToEncryptedTopic", "events.rds.amazonaws.com"),
            )
        ]
        key = aws.kms.Key(
            f"{name}-kms-key",
            description=f"{args.prefix}: encrypts the alarm topic",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(identity.account_id, partition.partition).apply(
                lambda v: account_root_key_policy(v[0], v[1], service_statements)
            ),
            tags={**args.tags, "Name": f"{args.prefix}-alarms"},
            opts=child,
        )
        aws.kms.Alias(f"{name}-kms-alias", name=f"alias/{args.prefix}-alarms", target_key_id=key.key_id, opts=child)
        topic = aws.sns.Topic(
            f"{name}-topic",
            name=f"{args.prefix}-database-alarms",
            kms_master_key_id=key.arn,
            tags={**args.tags, "Name": f"{args.prefix}-database-alarms"},
            opts=child,
        )
        if args.email:
            aws.sns.TopicSubscription(
                f"{name}-email-subscription",
                topic=topic.arn,
                protocol="email",
                endpoint=args.email,
                opts=child,
            )
        return topic.arn
