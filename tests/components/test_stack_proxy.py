"""RDS Proxy: role, TLS, IAM auth, pool config from the stack config, primary-only target."""

from __future__ import annotations

from stack_helpers import NS, named, only, policy, run_changed, stack_config

from gate.program import ProgramRun


def test_proxy_settings(run: ProgramRun, stack: str) -> None:
    proxy = named(run, "proxy-proxy")
    i = proxy.inputs
    assert i["name"] == f"orders-{stack}-proxy"
    assert i["engineFamily"] == "POSTGRESQL"
    assert i["requireTls"] is True
    assert i["debugLogging"] is False
    assert proxy.property_dependencies["roleArn"] == [named(run, "proxy-role").urn]
    (auth,) = i["auths"]
    assert auth["authScheme"] == "SECRETS"
    assert auth["iamAuth"] == "REQUIRED"
    assert auth["clientPasswordAuthType"] == "POSTGRES_SCRAM_SHA_256"
    assert named(run, "credentials-secret").urn in proxy.property_dependencies["auths"]
    assert i["idleClientTimeout"] == stack_config(stack)[f"{NS}:proxy"]["idleClientTimeoutS"]


def test_role_is_trusted_by_rds_and_least_privilege(run: ProgramRun) -> None:
    trust = policy(named(run, "proxy-role").inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "rds.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    role_policy = named(run, "proxy-role-policy")
    assert set(role_policy.property_dependencies["policy"]) == {
        named(run, "credentials-secret").urn,
        named(run, "credentials-kms-key").urn,
    }


def test_role_policy_names_this_secret_and_key_only(known_run: ProgramRun) -> None:
    doc = policy(named(known_run, "proxy-role-policy").inputs["policy"])
    secret_arn = named(known_run, "credentials-secret").outputs["arn"]
    key_arn = named(known_run, "credentials-kms-key").outputs["arn"]
    read, decrypt = doc["Statement"]
    assert read["Action"] == ["secretsmanager:GetSecretValue"] and read["Resource"] == [secret_arn]
    assert decrypt["Action"] == ["kms:Decrypt"] and decrypt["Resource"] == [key_arn]
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}
    for statement in doc["Statement"]:
        assert "*" not in str(statement["Action"]) and statement["Resource"] != ["*"]


def test_pool_config_follows_stack_config(run: ProgramRun, stack: str) -> None:
    expected = stack_config(stack)[f"{NS}:proxy"]
    pool = only(run, "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup").inputs["connectionPoolConfig"]
    assert pool == {
        "maxConnectionsPercent": expected["maxConnectionsPercent"],
        "maxIdleConnectionsPercent": expected["maxIdleConnectionsPercent"],
        "connectionBorrowTimeout": expected["connectionBorrowTimeoutS"],
        "initQuery": expected["initQuery"],
    }
    assert "sessionPinningFilters" not in pool  # MySQL-only


def test_changed_pool_config_reaches_the_target_group() -> None:
    run = run_changed(
        "prod",
        {
            f"{NS}:proxy.maxConnectionsPercent": 75,
            f"{NS}:proxy.maxIdleConnectionsPercent": 10,
            f"{NS}:proxy.connectionBorrowTimeoutS": 300,
            f"{NS}:proxy.initQuery": None,
        },
    )
    pool = only(run, "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup").inputs["connectionPoolConfig"]
    assert pool == {"maxConnectionsPercent": 75, "maxIdleConnectionsPercent": 10, "connectionBorrowTimeout": 300}
    assert run.outputs["connectionBudget"]["proxyDbConnections"] == 1802 * 75 // 100


def test_target_is_the_primary_only_and_no_read_only_endpoint(run: ProgramRun) -> None:
    target = only(run, "aws:rds/proxyTarget:ProxyTarget")
    assert target.property_dependencies["dbInstanceIdentifier"] == [named(run, "database-primary").urn]
    assert "dbClusterIdentifier" not in target.inputs
    # The proxy may log in only once the secret holds the password.
    assert named(run, "credentials-secret-version").urn in target.dependencies
    assert run.by_type("aws:rds/proxyEndpoint:ProxyEndpoint") == []


def test_read_path_is_the_replica_endpoints(known_run: ProgramRun, stack: str) -> None:
    replicas = sorted(
        (r for r in known_run.by_type("aws:rds/instance:Instance") if r.name.startswith("replica-")), key=lambda r: r.name
    )
    assert known_run.outputs["readerEndpoints"] == [r.outputs["address"] for r in replicas]
    assert known_run.outputs["proxyEndpoint"] == named(known_run, "proxy-proxy").outputs["endpoint"]
    assert len(known_run.outputs["readerEndpoints"]) == {"dev": 0, "prod": 1}[stack]
