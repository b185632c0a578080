"""The whole pack through the analyzer protocol: the clean setup, config handling, unrelated and unknown values."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
from cases import assert_clean
from policy_harness import CLEAN, check, clean_setup, env_config


def test_clean_setup_passes_in_both_environments():
    for env in ("dev", "prod"):
        assert_clean(check(CLEAN, env))


def test_messages_name_the_resource_and_the_fix():
    result = check(clean_setup(primary={"publicly_accessible": True, "username": "admin"}))
    for v in result.violations:
        assert 'aws.rds.Instance "primary"' in v.message
        assert v.urn.endswith("::primary")
    assert {v.policy for v in result.violations} == {"rds-not-publicly-accessible", "rds-master-username"}


def test_disabled_policy_does_not_run():
    config = env_config("prod")
    config["rds-not-publicly-accessible"] = "disabled"
    assert check(clean_setup(primary={"publicly_accessible": True}), config).violations == []


def test_unrelated_resources_are_ignored():
    def program() -> None:
        aws.sqs.Queue("jobs")
        aws.cloudwatch.MetricAlarm("queue-depth", namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
                                   comparison_operator="GreaterThanThreshold", evaluation_periods=1, threshold=10,
                                   period=60, statistic="Sum")
        aws.ec2.SecurityGroup("web", vpc_id="vpc-0a1b2c3d4e5f67890", ingress=[aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=443, to_port=443, cidr_blocks=["0.0.0.0/0"])])

    assert check(program).violations == []


def test_unknown_values_neither_crash_nor_guess():
    """Every judged value computed from an output that is unknown during preview: no violation, no
    "can't run policy" diagnostic (``check`` asserts that), and no crash."""

    def program() -> None:
        key = aws.kms.Key("key")

        def later(value: Any) -> Any:
            return key.arn.apply(lambda _: value)

        sg = aws.ec2.SecurityGroup("db", vpc_id="vpc-0a1b2c3d4e5f67890")
        pg = aws.rds.ParameterGroup("pg", family="postgres15", parameters=[
            {"name": "max_connections", "value": later("100000"), "apply_method": later("immediate")},
            {"name": "shared_buffers", "value": later("{DBInstanceClassMemory/4}"), "apply_method": "pending-reboot"},
            {"name": "work_mem", "value": later("999999")},
        ])
        db = aws.rds.Instance(
            "db", instance_class=later("db.r6g.large"), engine="postgres", username=later("admin"), password="x" * 16,
            allocated_storage=20, multi_az=later(False), publicly_accessible=later(True), storage_encrypted=later(False),
            deletion_protection=later(False), backup_retention_period=later(0), skip_final_snapshot=later(True),
            parameter_group_name=pg.name, vpc_security_group_ids=[sg.id],
        )
        aws.vpc.SecurityGroupIngressRule("db-from-somewhere", security_group_id=sg.id, cidr_ipv4=later("0.0.0.0/0"),
                                         ip_protocol="tcp", from_port=5432, to_port=5432)
        proxy = aws.rds.Proxy("proxy", engine_family="POSTGRESQL", role_arn=later("arn:aws:iam::1:role/x"),
                              require_tls=later(False), vpc_subnet_ids=["subnet-0a1b2c3d4e5f60001"])
        aws.rds.ProxyDefaultTargetGroup("pool", db_proxy_name=proxy.name, connection_pool_config={
            "connection_borrow_timeout": later(900), "max_connections_percent": later(100),
            "session_pinning_filters": later(["EXCLUDE_VARIABLE_SETS"])})
        aws.cloudwatch.MetricAlarm("conn", namespace=later("AWS/RDS/Proxy"), metric_name="DatabaseConnections",
                                   dimensions={"DBInstanceIdentifier": db.identifier}, threshold=later(99999),
                                   comparison_operator="GreaterThanThreshold", evaluation_periods=1, period=60,
                                   statistic="Average", alarm_actions=later(["arn:aws:sns:us-east-1:1:x"]))

    assert_clean(check(program))
