"""Stack config validation: one message per problem, naming key, value and what is accepted; nothing declared."""

from __future__ import annotations

from typing import Any

import pytest
from stack_helpers import NS, PROJECT_DIR, namespace_source, set_config, stack_config

from components.config import ConfigError, StackConfig, load_config
from gate.program import STACK_TYPE, run_program

# (stack, {dotted key: value}, key named in the message, text that must appear)
BAD_CONFIGS: list[tuple[str, dict[str, Any], str, str]] = [
    ("prod", {f"{NS}:database.instanceClass": "db.x9.huge"}, "database.instanceClass", "'db.x9.huge'"),
    ("prod", {f"{NS}:database.engineVersion": "14.9"}, "database.engineVersion", "15.x"),
    ("dev", {f"{NS}:database.engineVersion": 16.3}, "database.engineVersion", "'16.3'"),
    ("prod", {f"{NS}:network.subnetIds": ["subnet-0a1b2c3d4e5f60001"]}, "network.subnetIds", "at least 2"),
    ("prod", {f"{NS}:proxy.connectionBorrowTimeoutS": 301}, "proxy.connectionBorrowTimeoutS", "1 to 300"),
    ("prod", {f"{NS}:replicas.count": 9}, "replicas.count", "0 to 5"),
    ("dev", {f"{NS}:workload.lambdaConcurrency": -1}, "workload.lambdaConcurrency", "= -1"),
    ("dev", {f"{NS}:workload.ecsTasks": "many"}, "workload.ecsTasks", "whole number"),
    ("prod", {f"{NS}:database.masterUsername": "admin"}, "database.masterUsername", "'admin'"),
    ("prod", {f"{NS}:database.masterUsername": "rdsadmin"}, "database.masterUsername", "'rdsadmin'"),
    ("dev", {f"{NS}:database.masterUsername": "pg_app"}, "database.masterUsername", "starting 'pg_'"),
    ("prod", {f"{NS}:database.readerUsername": "admin"}, "database.readerUsername", "'admin'"),
    ("dev", {f"{NS}:database.readerUsername": "pg_read"}, "database.readerUsername", "starting 'pg_'"),
    ("dev", {f"{NS}:database.readerUsername": "1reader"}, "database.readerUsername", "expected a letter then"),
    ("dev", {f"{NS}:database.readerUsername": "orders-reader"}, "database.readerUsername", "'orders-reader'"),
    ("prod", {f"{NS}:database.readerUsername": 7}, "database.readerUsername", "expected a letter then"),
    ("prod", {f"{NS}:database.readerUsername": "orders_admin"}, "database.readerUsername", "other than masterUsername"),
    ("dev", {f"{NS}:database.readerUsername": "Orders_Admin"}, "database.readerUsername", "rds_iam"),
    (
        "prod",
        {f"{NS}:database.masterUsername": "postgres", f"{NS}:database.readerUsername": "postgres"},
        "database.readerUsername",
        "('postgres')",
    ),
    ("prod", {f"{NS}:proxy.maxConnectionsPercent": 101}, "proxy.maxConnectionsPercent", "1 to 100"),
    ("prod", {f"{NS}:proxy.maxIdleConnectionsPercent": 95}, "proxy.maxIdleConnectionsPercent", "at most maxConnectionsPercent"),
    ("prod", {f"{NS}:alarms.connectionsPercent": 0}, "alarms.connectionsPercent", "1 to 99"),
    (
        "prod",
        {f"{NS}:alarms.email": None, f"{NS}:alarms.snsTopicArn": "arn:aws:sqs:us-east-1:123456789012:q"},
        "alarms.snsTopicArn",
        "SNS topic ARN",
    ),
    ("prod", {f"{NS}:alarms.email": "not-an-address"}, "alarms.email", "e-mail address"),
    ("prod", {f"{NS}:database.multiAz": False}, "database.multiAz", "environment prod"),
    ("prod", {f"{NS}:database.deletionProtection": False}, "database.deletionProtection", "environment prod"),
    ("prod", {f"{NS}:database.backupRetentionDays": 3}, "database.backupRetentionDays", "7 to 35"),
    ("dev", {f"{NS}:database.backupRetentionDays": 0}, "database.backupRetentionDays", "1 to 35"),
    ("prod", {f"{NS}:database.maxConnections": 200}, "database.maxConnections", "only to raise the default"),
    ("prod", {f"{NS}:database.maxConnections": 2000, f"{NS}:database.workMemKb": 65536}, "database.workMemKb", "OOM"),
    ("prod", {f"{NS}:database.workMemKb": 1048576}, "database.workMemKb", "OOM"),  # 1 GB x 324 busy connections
    (
        "prod",
        {f"{NS}:database.allocatedStorage": 100, f"{NS}:database.maxAllocatedStorage": 105},
        "database.maxAllocatedStorage",
        "at least 10 % more",
    ),
    ("prod", {f"{NS}:proxy.sessionPinningFilters": ["EXCLUDE_VARIABLE_SETS"]}, "proxy.sessionPinningFilters", "MySQL-only"),
    ("prod", {f"{NS}:proxy.maxConnectionPercent": 50}, "proxy.maxConnectionPercent", "not a known setting"),
    ("dev", {f"{NS}:network.vpcId": "vpc-0a1b2c3d4e5f67890"}, "network.createVpc", "conflicts"),
    ("prod", {f"{NS}:network.vpcId": None}, "network.vpcId", "required unless createVpc"),
    ("prod", {f"{NS}:network.appSecurityGroupIds": ["default"]}, "network.appSecurityGroupIds", "'default'"),
    ("dev", {f"{NS}:lambdaFunction.memoryMb": 64}, "lambdaFunction.memoryMb", "128 to 10240"),
    ("dev", {f"{NS}:lambdaFunction.enabled": "yes"}, "lambdaFunction.enabled", "true or false"),
    ("dev", {f"{NS}:environment": "qa"}, "environment", "dev, staging, prod"),
    (
        "prod",
        {f"{NS}:proxy.maxConnectionsPercent": 2, f"{NS}:proxy.maxIdleConnectionsPercent": 1},
        "proxy.maxConnectionsPercent",
        "the workload needs 50",
    ),
    ("prod", {f"{NS}:replicas.instanceClass": "db.t4g.medium"}, "replicas.instanceClass", "standby will not start"),
    ("dev", {f"{NS}:database.instanceClass": "db.t4g.micro"}, "database.performanceInsightsEnabled", "db.t4g.micro"),
    ("dev", {f"{NS}:database.monitoringIntervalS": 7}, "database.monitoringIntervalS", "1, 5, 10, 15, 30, 60"),
    ("dev", {f"{NS}:database.storageType": "gp2"}, "database.storageType", "'gp3'"),
    ("dev", {f"{NS}:database.maxAllocatedStorage": 10}, "database.maxAllocatedStorage", "more than allocatedStorage"),
    ("dev", {f"{NS}:tags": {"aws:owner": "x"}}, "tags.aws:owner", "reserved"),
    ("dev", {f"{NS}:database.instanceClass": None}, "database.instanceClass", "is missing"),
    ("prod", {f"{NS}:proxy": "fast"}, "proxy", "expected a mapping"),
    ("prod", {f"{NS}:proxy.idleClientTimeoutS": 28801}, "proxy.idleClientTimeoutS", "1 to 28800"),
    ("prod", {f"{NS}:alarms.borrowLatencyMs": 120000}, "alarms.borrowLatencyMs", "below proxy.connectionBorrowTimeoutS"),
    ("prod", {f"{NS}:database.backupWindow": "3am"}, "database.backupWindow", "'hh:mm-hh:mm'"),
    ("prod", {f"{NS}:workload.activeRatio": 0}, "workload.activeRatio", "0.01 to 1.0"),
]


def _problems(error: ConfigError, key: str) -> list[str]:
    return [p for p in error.problems if f"{NS}:{key}" in p]


@pytest.mark.parametrize(("stack", "changes", "key", "text"), BAD_CONFIGS, ids=[f"{c[0]}-{c[2]}" for c in BAD_CONFIGS])
def test_bad_config_is_rejected_before_anything_is_declared(
    stack: str, changes: dict[str, Any], key: str, text: str, registered_types: list[str]
) -> None:
    config = stack_config(stack)
    for dotted, value in changes.items():
        set_config(config, dotted, value)
    with pytest.raises(ConfigError) as caught:
        run_program(PROJECT_DIR, stack, config=config)
    error = caught.value
    assert isinstance(error, ValueError)
    matching = _problems(error, key)
    assert len(matching) == 1, f"expected one message naming {key}, got {error.problems}"
    assert text in matching[0], matching[0]
    assert len(error.problems) == 1, error.problems  # the other settings are fine: no knock-on messages
    assert [t for t in registered_types if t != STACK_TYPE] == []


def test_every_problem_is_reported_at_once(registered_types: list[str]) -> None:
    config = stack_config("prod")
    for dotted, value in {
        f"{NS}:database.instanceClass": "db.x9.huge",
        f"{NS}:database.masterUsername": "admin",
        f"{NS}:proxy.connectionBorrowTimeoutS": 900,
        f"{NS}:replicas.count": 9,
        f"{NS}:workload.ecsTasks": -3,
        f"{NS}:network.subnetIds": ["subnet-0a1b2c3d4e5f60001"],
    }.items():
        set_config(config, dotted, value)
    with pytest.raises(ConfigError) as caught:
        run_program(PROJECT_DIR, "prod", config=config)
    keys = [
        "database.instanceClass",
        "database.masterUsername",
        "proxy.connectionBorrowTimeoutS",
        "replicas.count",
        "workload.ecsTasks",
        "network.subnetIds",
    ]
    for key in keys:
        assert len(_problems(caught.value, key)) == 1, key
    assert str(caught.value).startswith("6 problems in the stack configuration (Pulumi.prod.yaml):")
    assert [t for t in registered_types if t != STACK_TYPE] == []


def _load(stack: str, changes: dict[str, Any] | None = None) -> StackConfig:
    raw = stack_config(stack)
    for dotted, value in (changes or {}).items():
        set_config(raw, dotted, value)

    return load_config(namespace_source(raw), stack=stack)


def test_stack_files_load_into_typed_frozen_config() -> None:
    prod = _load("prod")
    assert prod.environment == "prod" and prod.prefix == "orders-prod"
    assert prod.database.parameter_group_family == "postgres15"
    assert prod.database.multi_az and prod.database.deletion_protection
    assert prod.replicas.count == 1 and prod.replicas.instance_class == "db.r6g.large"
    assert prod.workload.client_connections == 250
    assert prod.network.subnet_ids and not prod.network.create_vpc
    assert prod.lambda_function.enabled is False
    with pytest.raises(AttributeError):
        prod.environment = "dev"  # type: ignore[misc]
    dev = _load("dev")
    assert dev.network.create_vpc and dev.network.vpc_cidr == "10.20.0.0/16"
    assert not dev.database.multi_az and dev.replicas.count == 0
    assert dev.resource_tags["Environment"] == "dev" and dev.resource_tags["CostCenter"] == "orders-dev"


def test_defaults_apply_when_keys_are_left_out() -> None:
    config = _load(
        "prod",
        {f"{NS}:proxy": {}, f"{NS}:alarms": {}, f"{NS}:lambdaFunction": None, f"{NS}:replicas.instanceClass": None},
    )
    assert config.proxy.max_connections_percent == 90
    assert config.proxy.connection_borrow_timeout_s == 120
    assert config.proxy.init_query is None
    assert config.alarms.connections_percent == 80 and config.alarms.sns_topic_arn is None
    assert config.lambda_function.enabled is False and config.lambda_function.memory_mb == 256
    assert config.replicas.instance_class == config.database.instance_class


def test_quoted_versions_and_numbers_from_config_set_are_accepted() -> None:
    # `pulumi config set --path` stores every value as a string: a whole number in a string is that number.
    config = _load("dev", {f"{NS}:database.engineVersion": "15.10", f"{NS}:workload.lambdaConcurrency": "12"})
    assert config.database.engine_version == "15.10"
    assert config.workload.lambda_concurrency == 12


@pytest.mark.parametrize("value", [15.8, 15.1, 15, True])
def test_an_unquoted_engine_version_is_refused_not_converted(value: Any) -> None:
    # YAML reads an unquoted 15.10 as 15.1: converting it would silently deploy another version.
    with pytest.raises(ConfigError) as caught:
        _load("dev", {f"{NS}:database.engineVersion": value})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{NS}:database.engineVersion = ") and "write it in quotes" in problem


def test_raising_max_connections_is_accepted_and_reaches_the_budget() -> None:
    config = _load("prod", {f"{NS}:database.maxConnections": 2500})
    assert config.connection_budget.max_connections == 2500
    assert not config.connection_budget.max_connections_is_default


def test_common_work_mem_is_accepted_like_the_pack_accepts_it() -> None:
    # 16 MB with the default max_connections on 16 GiB: its worst case (every connection sorting) exceeds
    # memory, the design point does not; the pack reports it as advisory only, so the config takes it.
    config = _load("prod", {f"{NS}:database.workMemKb": 16384})
    assert config.database.work_mem_kb == 16384


def test_storage_autoscaling_ten_percent_above_is_accepted() -> None:
    config = _load("prod", {f"{NS}:database.allocatedStorage": 100, f"{NS}:database.maxAllocatedStorage": 110})
    assert config.database.max_allocated_storage == 110


def test_error_messages_never_echo_long_values() -> None:
    with pytest.raises(ConfigError) as caught:
        _load("dev", {f"{NS}:database.dbName": "x" * 500})
    (message,) = caught.value.problems
    assert "database.dbName" in message and len(message) < 300


def test_reader_username_defaults_to_orders_reader() -> None:
    for stack in ("dev", "prod"):
        database = _load(stack).database
        assert database.reader_username == "orders_reader" != database.master_username


def test_reader_username_is_read_from_the_stack() -> None:
    database = _load("prod", {f"{NS}:database.readerUsername": "lookup_ro"}).database
    assert (database.master_username, database.reader_username) == ("orders_admin", "lookup_ro")


def test_master_username_equal_to_the_default_reader_is_reported_on_the_reader_key() -> None:
    with pytest.raises(ConfigError) as caught:
        _load("dev", {f"{NS}:database.masterUsername": "orders_reader"})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{NS}:database.readerUsername = 'orders_reader' is not accepted: ")
    assert "masterUsername ('orders_reader')" in problem and "RDS Proxy" in problem


def test_a_malformed_reader_username_equal_to_the_master_is_one_problem() -> None:
    # Both keys are bad: one message each, and no second "must differ" message for the reader.
    with pytest.raises(ConfigError) as caught:
        _load("dev", {f"{NS}:database.masterUsername": "9x", f"{NS}:database.readerUsername": "9x"})
    assert len(_problems(caught.value, "database.readerUsername")) == 1
    assert len(_problems(caught.value, "database.masterUsername")) == 1
    assert len(caught.value.problems) == 2
