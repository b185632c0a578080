"""A synthetic pulumi-aws program of many complete database setups, for benchmarking the policy gate.

Each setup is what a careful team declares for one service: security groups for the
proxy and the database with separate ingress rules, a KMS key, the credentials secret,
the proxy's IAM role and policy, a parameter group, a Multi-AZ primary and a read
replica, RDS Proxy with its target group and target, an SNS topic and alarms.  It is
meant to pass the policy pack, so the benchmark measures a clean gate, the common case.

    from gate.synthetic import synthetic_program, SETUP_RESOURCES
    run = run_program(project_dir, "bench", program=synthetic_program(50))   # 50 x 32 resources
"""

from __future__ import annotations

import json
from collections.abc import Callable

#: Resources one setup declares (checked by the tests).
SETUP_RESOURCES = 32


def _setup(i: int) -> None:
    import pulumi
    import pulumi_aws as aws

    p = f"svc{i:03d}"
    vpc_id = "vpc-0a1b2c3d4e5f67890"
    subnets = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"]

    app_sg = aws.ec2.SecurityGroup(f"{p}-app", vpc_id=vpc_id, description=f"{p} application tier")
    proxy_sg = aws.ec2.SecurityGroup(f"{p}-proxy", vpc_id=vpc_id, description=f"{p} RDS Proxy")
    db_sg = aws.ec2.SecurityGroup(f"{p}-db", vpc_id=vpc_id, description=f"{p} database")
    aws.vpc.SecurityGroupIngressRule(
        f"{p}-proxy-from-app", security_group_id=proxy_sg.id, referenced_security_group_id=app_sg.id,
        ip_protocol="tcp", from_port=5432, to_port=5432,
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{p}-db-from-proxy", security_group_id=db_sg.id, referenced_security_group_id=proxy_sg.id,
        ip_protocol="tcp", from_port=5432, to_port=5432,
    )
    aws.vpc.SecurityGroupEgressRule(
        f"{p}-proxy-to-db", security_group_id=proxy_sg.id, referenced_security_group_id=db_sg.id,
        ip_protocol="tcp", from_port=5432, to_port=5432,
    )
    key = aws.kms.Key(f"{p}-key", description=f"{p} database", enable_key_rotation=True)
    aws.kms.Alias(f"{p}-key-alias", name=f"alias/{p}-database", target_key_id=key.key_id)
    secret = aws.secretsmanager.Secret(f"{p}-credentials", kms_key_id=key.arn)
    aws.secretsmanager.SecretVersion(
        f"{p}-credentials", secret_id=secret.id,
        secret_string=pulumi.Output.secret(json.dumps({"username": "postgres", "password": f"synthetic-{i}"})),
    )
    role = aws.iam.Role(
        f"{p}-proxy-role",
        assume_role_policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "rds.amazonaws.com"}, "Action": "sts:AssumeRole"}],
        }),
    )
    aws.iam.RolePolicy(
        f"{p}-proxy-secret",
        role=role.id,
        policy=pulumi.Output.json_dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [secret.arn]},
                {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [key.arn]},
            ],
        }),
    )
    monitoring = aws.iam.Role(
        f"{p}-monitoring",
        assume_role_policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                           "Action": "sts:AssumeRole"}],
        }),
    )
    aws.iam.RolePolicyAttachment(
        f"{p}-monitoring", role=monitoring.name,
        policy_arn="arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
    )
    subnet_group = aws.rds.SubnetGroup(f"{p}-subnets", subnet_ids=subnets)
    params = aws.rds.ParameterGroup(
        f"{p}-params", family="postgres15",
        parameters=[
            aws.rds.ParameterGroupParameterArgs(name="max_connections", value="LEAST({DBInstanceClassMemory/9531392},5000)",
                                                apply_method="pending-reboot"),
            aws.rds.ParameterGroupParameterArgs(name="work_mem", value="4096"),
            aws.rds.ParameterGroupParameterArgs(name="idle_in_transaction_session_timeout", value="60000"),
        ],
    )
    identifier = f"{p}-db"
    primary = aws.rds.Instance(
        f"{p}-primary", identifier=identifier, engine="postgres", engine_version="15.8", instance_class="db.r6g.large",
        allocated_storage=100, storage_type="gp3", storage_encrypted=True, kms_key_id=key.arn, username="postgres",
        password=pulumi.Output.secret(f"synthetic-{i}"), multi_az=True, db_subnet_group_name=subnet_group.name,
        vpc_security_group_ids=[db_sg.id], publicly_accessible=False, parameter_group_name=params.name,
        backup_retention_period=14, deletion_protection=True, skip_final_snapshot=False,
        final_snapshot_identifier=f"{identifier}-final", iam_database_authentication_enabled=True,
        monitoring_interval=15, monitoring_role_arn=monitoring.arn,
    )
    replica = aws.rds.Instance(
        f"{p}-replica", identifier=f"{identifier}-replica", replicate_source_db=primary.identifier,
        instance_class="db.r6g.large", storage_encrypted=True, kms_key_id=key.arn, publicly_accessible=False,
        vpc_security_group_ids=[db_sg.id], parameter_group_name=params.name, skip_final_snapshot=True,
    )
    proxy = aws.rds.Proxy(
        f"{p}-proxy", name=f"{p}-proxy", engine_family="POSTGRESQL", role_arn=role.arn, require_tls=True,
        vpc_security_group_ids=[proxy_sg.id], vpc_subnet_ids=subnets,
        auths=[aws.rds.ProxyAuthArgs(auth_scheme="SECRETS", iam_auth="REQUIRED", secret_arn=secret.arn,
                                     client_password_auth_type="POSTGRES_SCRAM_SHA_256")],
    )
    group = aws.rds.ProxyDefaultTargetGroup(
        f"{p}-pool", db_proxy_name=proxy.name,
        connection_pool_config=aws.rds.ProxyDefaultTargetGroupConnectionPoolConfigArgs(
            max_connections_percent=90, max_idle_connections_percent=45, connection_borrow_timeout=120,
        ),
    )
    aws.rds.ProxyTarget(f"{p}-target", db_proxy_name=proxy.name, target_group_name=group.name,
                        db_instance_identifier=primary.identifier)
    topic = aws.sns.Topic(f"{p}-alerts")
    alarms: list[tuple[str, str, dict[str, pulumi.Input[str]], float]] = [
        ("connections", "DatabaseConnections", {"DBInstanceIdentifier": primary.identifier}, 1400),
        ("cpu", "CPUUtilization", {"DBInstanceIdentifier": primary.identifier}, 80),
        ("memory", "FreeableMemory", {"DBInstanceIdentifier": primary.identifier}, 1.7e9),
        ("storage", "FreeStorageSpace", {"DBInstanceIdentifier": primary.identifier}, 1.0e10),
        ("disk-queue", "DiskQueueDepth", {"DBInstanceIdentifier": primary.identifier}, 64),
        ("replica-lag", "ReplicaLag", {"DBInstanceIdentifier": replica.identifier}, 30),
        ("proxy-clients", "ClientConnections", {"ProxyName": proxy.name}, 300),
        ("proxy-borrow", "DatabaseConnectionsBorrowLatency", {"ProxyName": proxy.name}, 100000),
        ("proxy-pinned", "DatabaseConnectionsCurrentlySessionPinned", {"ProxyName": proxy.name}, 50),
        # Published per target group and role only (RDS Proxy's dimension set 4).
        ("proxy-availability", "AvailabilityPercentage",
         {"ProxyName": proxy.name, "TargetGroup": "default", "TargetRole": "READ_WRITE"}, 99),
    ]
    for suffix, metric, dims, threshold in alarms:
        lower = metric in ("FreeableMemory", "FreeStorageSpace", "AvailabilityPercentage")
        aws.cloudwatch.MetricAlarm(
            f"{p}-{suffix}", namespace="AWS/RDS", metric_name=metric, dimensions=dims, statistic="Average",
            period=60, evaluation_periods=3, threshold=threshold,
            comparison_operator="LessThanThreshold" if lower else "GreaterThanThreshold",
            alarm_actions=[topic.arn], ok_actions=[topic.arn],
        )


def synthetic_program(setups: int = 50) -> Callable[[], None]:
    """A program body (for ``run_program(program=...)``) declaring *setups* database setups."""
    if setups < 1:
        raise ValueError("setups must be at least 1")

    def program() -> None:
        for i in range(setups):
            _setup(i)

    return program
