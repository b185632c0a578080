"""Primary, parameter groups, replicas: every property the design asks for, dev vs prod."""

from __future__ import annotations

from stack_helpers import NS, named, only, policy, run_changed, stack_config

from components import sizing
from components.database import STATIC_PARAMETERS
from gate.program import UNKNOWN, ProgramRun, Secret


def _params(run: ProgramRun, name: str) -> dict[str, tuple[str, str]]:
    group = named(run, name)
    return {p["name"]: (p["value"], p.get("applyMethod", "immediate")) for p in group.inputs["parameters"]}


def test_primary_is_encrypted_private_and_iam_authenticated(run: ProgramRun) -> None:
    primary = named(run, "database-primary")
    i = primary.inputs
    assert i["engine"] == "postgres" and i["engineVersion"].startswith("15")
    assert i["storageEncrypted"] is True
    assert i["storageType"] == "gp3"
    assert i["publiclyAccessible"] is False
    assert i["iamDatabaseAuthenticationEnabled"] is True
    assert i["copyTagsToSnapshot"] is True
    assert i["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    assert i["performanceInsightsEnabled"] is True
    assert i["monitoringInterval"] > 0
    kms = named(run, "database-kms-key").urn
    assert primary.property_dependencies["kmsKeyId"] == [kms]
    assert primary.property_dependencies["performanceInsightsKmsKeyId"] == [kms]
    assert primary.property_dependencies["monitoringRoleArn"] == [named(run, "database-monitoring-role").urn]
    assert primary.property_dependencies["vpcSecurityGroupIds"] == [named(run, "network-database-security-group").urn]
    assert primary.property_dependencies["dbSubnetGroupName"] == [named(run, "database-subnet-group").urn]
    assert i["username"] == "orders_admin"
    assert isinstance(i["password"], Secret)


def test_dev_and_prod_differ_for_real(run: ProgramRun, stack: str) -> None:
    i = named(run, "database-primary").inputs
    if stack == "prod":
        assert i["instanceClass"] == "db.r6g.large"
        assert i["multiAz"] is True
        assert i["deletionProtection"] is True
        assert i["backupRetentionPeriod"] >= 7
        assert i["skipFinalSnapshot"] is False
        assert i["finalSnapshotIdentifier"] == "orders-prod-db-final"
    else:
        assert i["instanceClass"] in ("db.t4g.medium", "db.t3.medium")
        assert i["multiAz"] is False
        assert i["deletionProtection"] is False
        assert i["skipFinalSnapshot"] is True
        assert "finalSnapshotIdentifier" not in i
        # Never 0: point-in-time recovery and replicas need automated backups.
        assert i["backupRetentionPeriod"] >= 1


def test_monitoring_role_is_for_enhanced_monitoring(run: ProgramRun) -> None:
    role = named(run, "database-monitoring-role")
    trust = policy(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    attachment = named(run, "database-monitoring-role-policy")
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"


def test_kms_keys_rotate(run: ProgramRun) -> None:
    for key in run.by_type("aws:kms/key:Key"):
        assert key.inputs["enableKeyRotation"] is True, key.name
        doc = policy(key.inputs["policy"])
        assert doc["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}


def test_parameter_group_family_comes_from_the_engine_version(run: ProgramRun) -> None:
    assert named(run, "database-parameter-group").inputs["family"] == "postgres15"


def test_parameters_keep_rds_defaults_and_clean_up_dead_clients(run: ProgramRun) -> None:
    params = _params(run, "database-parameter-group")
    # Not set: the RDS defaults are right (the seed lowered max_connections and asked 2048 x RAM).
    assert "max_connections" not in params
    assert "shared_buffers" not in params
    assert "work_mem" not in params
    assert params["tcp_keepalives_idle"] == ("60", "immediate")
    assert params["tcp_keepalives_interval"] == ("10", "immediate")
    assert params["tcp_keepalives_count"] == ("3", "immediate")
    assert "idle_in_transaction_session_timeout" in params


def test_raised_max_connections_is_static_and_pending_reboot() -> None:
    run = run_changed("prod", {f"{NS}:database.maxConnections": 2500, f"{NS}:database.workMemKb": 2048})
    for group in ("database-parameter-group", "replica-parameter-group"):
        params = _params(run, group)
        # A hot standby must allow at least as many connections as its primary.
        assert params["max_connections"] == ("2500", "pending-reboot")
        assert params["work_mem"] == ("2048", "immediate")
    for group in run.by_type("aws:rds/parameterGroup:ParameterGroup"):
        for p in group.inputs["parameters"]:
            expected = "pending-reboot" if p["name"] in STATIC_PARAMETERS else "immediate"
            assert p.get("applyMethod") == expected, p
    assert run.outputs["connectionBudget"]["maxConnections"] == 2500


def test_idle_in_transaction_timeout_follows_config() -> None:
    run = run_changed("dev", {f"{NS}:database.idleInTransactionSessionTimeoutMs": 15000})
    assert _params(run, "database-parameter-group")["idle_in_transaction_session_timeout"] == ("15000", "immediate")


def test_replicas(run: ProgramRun, stack: str) -> None:
    replicas = [r for r in run.by_type("aws:rds/instance:Instance") if r.name.startswith("replica-")]
    assert len(replicas) == {"dev": 0, "prod": 1}[stack]
    primary = named(run, "database-primary")
    for replica in replicas:
        i = replica.inputs
        assert replica.property_dependencies["replicateSourceDb"] == [primary.urn]
        assert i["replicateSourceDb"] in ("orders-prod-db", UNKNOWN)
        assert i["publiclyAccessible"] is False
        assert i["storageEncrypted"] is True
        assert i["iamDatabaseAuthenticationEnabled"] is True
        assert i["monitoringInterval"] == primary.inputs["monitoringInterval"]
        assert replica.property_dependencies["monitoringRoleArn"] == [named(run, "database-monitoring-role").urn]
        # Their own group (the app tier reads from them directly), never the primary's.
        assert replica.property_dependencies["vpcSecurityGroupIds"] == [named(run, "network-replica-security-group").urn]
        assert replica.property_dependencies["parameterGroupName"] == [named(run, "replica-parameter-group").urn]
        assert "username" not in i and "password" not in i  # inherited from the source
    if replicas:
        assert named(run, "replica-parameter-group").inputs["family"] == "postgres15"


def test_replica_count_and_class_follow_config() -> None:
    run = run_changed(
        "prod", {f"{NS}:replicas.count": 3, f"{NS}:replicas.instanceClass": "db.r6g.xlarge"}, unknown_computed=False
    )
    # Registration order is asynchronous: sort by name.
    replicas = sorted(
        (r for r in run.by_type("aws:rds/instance:Instance") if r.name.startswith("replica-")), key=lambda r: r.name
    )
    assert [r.inputs["identifier"] for r in replicas] == [f"orders-prod-db-replica-{n}" for n in (1, 2, 3)]
    assert {r.inputs["instanceClass"] for r in replicas} == {"db.r6g.xlarge"}
    endpoints = run.outputs["readerEndpoints"]
    assert [e.split(".")[0] for e in endpoints] == [f"orders-prod-db-replica-{n}" for n in (1, 2, 3)]
    assert run.outputs["replicaIdentifiers"] == [f"orders-prod-db-replica-{n}" for n in (1, 2, 3)]
    # One replica group for all of them.
    group_id = named(run, "network-replica-security-group").id
    assert {tuple(r.inputs["vpcSecurityGroupIds"]) for r in replicas} == {(group_id,)}


def test_budget_export_matches_sizing(run: ProgramRun, stack: str) -> None:
    cfg = stack_config(stack)
    workload = cfg[f"{NS}:workload"]
    budget = sizing.connection_budget(
        cfg[f"{NS}:database"]["instanceClass"],
        sizing.Workload(
            workload["lambdaConcurrency"],
            workload["ecsTasks"],
            workload["ecsPoolSize"],
            workload["otherClients"],
            workload["activeRatio"],
        ),
        proxy_max_connections_percent=cfg[f"{NS}:proxy"]["maxConnectionsPercent"],
        replica_count=cfg[f"{NS}:replicas"]["count"],
    )
    assert run.outputs["connectionBudget"] == budget.summary()
    assert [tuple(row) for row in run.outputs["connectionBudgetRows"]] == budget.rows()
    if stack == "prod":
        assert budget.client_connections == 250 and budget.max_connections == 1802
    assert only(run, "aws:rds/subnetGroup:SubnetGroup").inputs["name"] == f"orders-{stack}-db"
