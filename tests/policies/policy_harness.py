"""Drive the real policy pack over the analyzer protocol from tests.

One pack process per test session (per xdist worker): :func:`shared_gate` starts it
on first use; the session fixtures in ``tests/policies/conftest.py`` and
``tests/gate/conftest.py`` stop it at the end.  :func:`clean_setup` declares a complete,
correct database setup; tests inject one defect at a time through its hooks and assert
exactly which policies fire.  :func:`check` sends a program in one of the :data:`SHAPES` the CLI
uses (checked inputs, a new stack's planned outputs, a deployed stack's state; see gate/shapes.py).
"""

from __future__ import annotations

import atexit
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from gate.analyzer import GateResult, PolicyGate, load_config_file
from gate.program import ProgramRun, run_program
from gate.shapes import SHAPES, Shape, shape_needs_unknown_values

ROOT = Path(__file__).resolve().parents[2]
PROJECT = Path(__file__).resolve().parent / "project"
SEED = ROOT / "tests" / "fixtures" / "seed_program"
CONFIG_DIR = ROOT / "policies" / "config"

__all__ = ["CLEAN", "SHAPES", "Ctx", "check", "clean_setup", "env_config", "run", "shared_gate", "stop_shared_gate", "trust"]

_gate: PolicyGate | None = None


def shared_gate() -> PolicyGate:
    global _gate
    if _gate is None:
        _gate = PolicyGate().start()
        # A worker that never requested the session fixture (e.g. it ran only corpus tests) still stops it.
        atexit.register(stop_shared_gate)
    return _gate


def stop_shared_gate() -> None:
    global _gate
    if _gate is not None:
        _gate.stop()
        _gate = None


def env_config(env: str) -> dict[str, Any]:
    return load_config_file(CONFIG_DIR / f"{env}.json")


_runs: dict[tuple[int, bool], tuple[Callable[[], None], ProgramRun]] = {}


def run(program: Callable[[], None], *, known: bool = False) -> ProgramRun:
    """Run a program under mocks, planned through the provider's Check; computed values unknown (a new
    stack) or *known* (a deployed one).  The same program object runs once per mode (runs are read-only)."""
    key = (id(program), known)
    if key not in _runs:
        result = run_program(PROJECT, "test", config={"aws:region": "us-east-1"}, unknown_computed=not known,
                             program=program, provider_check=True)
        _runs[key] = (program, result)  # keeping the program keeps its id unique
    return _runs[key][1]


def check(program: Callable[[], None], config: str | dict[str, Any] = "prod", *, shape: Shape = "planned") -> GateResult:
    """Gate *program* through the real pack, sending it in *shape* (``PolicyGate.check(run, config, shape=)``,
    see :mod:`gate.shapes`):

    ``"inputs"``: ``Analyze`` and ``AnalyzeStack`` get the checked inputs (auto-names and provider
    defaults filled in, computed values absent); ``"planned"``: ``AnalyzeStack`` gets a new stack's
    planned outputs (computed values unknown); ``"deployed"``: ``AnalyzeStack`` gets a deployed stack's
    refreshed state (known ids, ARNs and names; security groups list every rule).
    """
    raw = env_config(config) if isinstance(config, str) else config
    result = shared_gate().check(run(program, known=not shape_needs_unknown_values(shape)), raw, shape=shape)
    stuck = [v for v in result.violations if "can't run policy" in v.message]
    assert not stuck, f"a policy could not run in the {shape} shape: {stuck}"
    return result


# --- A complete, correct setup ----------------------------------------------------------------------

VPC = "vpc-0a1b2c3d4e5f67890"
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]


@dataclass
class Ctx:
    app_sg: aws.ec2.SecurityGroup
    proxy_sg: aws.ec2.SecurityGroup
    db_sg: aws.ec2.SecurityGroup
    key: aws.kms.Key
    secret: aws.secretsmanager.Secret
    role: aws.iam.Role
    params: aws.rds.ParameterGroup
    primary: aws.rds.Instance
    replica: aws.rds.Instance
    proxy: aws.rds.Proxy
    group: aws.rds.ProxyDefaultTargetGroup
    topic: aws.sns.Topic
    #: The replica's own group (``clean_setup(replica_sg=...)``), else None: the replica shares ``db_sg``.
    replica_sg: aws.ec2.SecurityGroup | None = None


def trust(service: str = "rds.amazonaws.com") -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def clean_setup(
    *,
    primary: dict[str, Any] | None = None,
    replica: dict[str, Any] | None = None,
    proxy: dict[str, Any] | None = None,
    pool: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    db_sg_ingress: Callable[[aws.ec2.SecurityGroup], list[Any]] | None = None,
    replica_sg: Literal["own", "shared"] | None = None,
    role_policy: Callable[[Ctx], Any] | None | str = "default",
    trust_service: str = "rds.amazonaws.com",
    target: str = "primary",
    lag_alarm: bool = True,
    alarm_overrides: dict[str, dict[str, Any]] | None = None,
    extra: Callable[[Ctx], None] | None = None,
) -> Callable[[], None]:
    """A program: app/proxy/db security groups, KMS, secret, proxy role, parameter group, Multi-AZ primary,
    replica, RDS Proxy (TLS, IAM auth), target group and target, SNS topic and alarms.  Every keyword
    changes one thing.

    ``replica_sg``: None keeps the replica in the database group (no direct reads); ``"own"`` gives it a
    group of its own that admits the app group (the direct read path); ``"shared"`` attaches that same
    group to the primary as well."""

    def program() -> None:
        app_sg = aws.ec2.SecurityGroup("app", vpc_id=VPC, description="application tier")
        proxy_sg = aws.ec2.SecurityGroup("proxy", vpc_id=VPC, description="RDS Proxy")
        db_sg = aws.ec2.SecurityGroup(
            "db", vpc_id=VPC, description="database", ingress=db_sg_ingress(app_sg) if db_sg_ingress else None
        )
        aws.vpc.SecurityGroupIngressRule(
            "proxy-from-app", security_group_id=proxy_sg.id, referenced_security_group_id=app_sg.id,
            ip_protocol="tcp", from_port=5432, to_port=5432,
        )
        aws.vpc.SecurityGroupIngressRule(
            "db-from-proxy", security_group_id=db_sg.id, referenced_security_group_id=proxy_sg.id,
            ip_protocol="tcp", from_port=5432, to_port=5432,
        )
        rep_sg = None
        if replica_sg is not None:
            rep_sg = aws.ec2.SecurityGroup("replica-sg", vpc_id=VPC, description="read replicas")
            aws.vpc.SecurityGroupIngressRule(
                "replica-from-app", security_group_id=rep_sg.id, referenced_security_group_id=app_sg.id,
                ip_protocol="tcp", from_port=5432, to_port=5432,
            )
        primary_sgs = [db_sg.id, rep_sg.id] if rep_sg is not None and replica_sg == "shared" else [db_sg.id]
        key = aws.kms.Key("key", description="database")
        secret = aws.secretsmanager.Secret("credentials", kms_key_id=key.arn)
        role = aws.iam.Role("proxy-role", assume_role_policy=trust(trust_service))
        params = aws.rds.ParameterGroup(
            "params",
            family="postgres15",
            parameters=parameters
            if parameters is not None
            else [
                {"name": "max_connections", "value": "LEAST({DBInstanceClassMemory/9531392},5000)",
                 "apply_method": "pending-reboot"},
                {"name": "work_mem", "value": "4096"},
            ],
        )
        db = aws.rds.Instance(
            "primary",
            **{
                "identifier": "orders-db",
                "engine": "postgres",
                "engine_version": "15.8",
                "instance_class": "db.r6g.large",
                "allocated_storage": 100,
                "storage_encrypted": True,
                "kms_key_id": key.arn,
                "username": "postgres",
                "password": pulumi.Output.secret("not-a-real-password"),
                "multi_az": True,
                "vpc_security_group_ids": primary_sgs,
                "publicly_accessible": False,
                "parameter_group_name": params.name,
                "backup_retention_period": 14,
                "deletion_protection": True,
                "skip_final_snapshot": False,
                "final_snapshot_identifier": "orders-db-final",
                "iam_database_authentication_enabled": True,
                **(primary or {}),
            },
        )
        rep = aws.rds.Instance(
            "replica",
            **{
                "identifier": "orders-db-replica",
                "replicate_source_db": db.identifier,
                "instance_class": "db.r6g.large",
                "vpc_security_group_ids": [rep_sg.id] if rep_sg is not None else [db_sg.id],
                "publicly_accessible": False,
                "parameter_group_name": params.name,
                "skip_final_snapshot": True,
                **(replica or {}),
            },
        )
        prx = aws.rds.Proxy(
            "proxy",
            **{
                "name": "orders-proxy",
                "engine_family": "POSTGRESQL",
                "role_arn": role.arn,
                "require_tls": True,
                "vpc_security_group_ids": [proxy_sg.id],
                "vpc_subnet_ids": SUBNETS,
                "auths": [
                    aws.rds.ProxyAuthArgs(
                        auth_scheme="SECRETS", iam_auth="REQUIRED", secret_arn=secret.arn,
                        client_password_auth_type="POSTGRES_SCRAM_SHA_256",
                    )
                ],
                **(proxy or {}),
            },
        )
        group = aws.rds.ProxyDefaultTargetGroup(
            "pool",
            db_proxy_name=prx.name,
            connection_pool_config={
                "max_connections_percent": 90, "max_idle_connections_percent": 45, "connection_borrow_timeout": 120,
                **(pool or {}),
            },
        )
        aws.rds.ProxyTarget(
            "target", db_proxy_name=prx.name, target_group_name=group.name,
            db_instance_identifier=(db if target == "primary" else rep).identifier,
        )
        topic = aws.sns.Topic("alerts")
        ctx = Ctx(app_sg, proxy_sg, db_sg, key, secret, role, params, db, rep, prx, group, topic, rep_sg)
        if role_policy == "default":
            aws.iam.RolePolicy(
                "proxy-secret",
                role=role.id,
                policy=pulumi.Output.json_dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret.arn},
                            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key.arn},
                        ],
                    }
                ),
            )
        elif callable(role_policy):
            role_policy(ctx)
        alarms: dict[str, dict[str, Any]] = {
            "connections": {"metric_name": "DatabaseConnections", "dimensions": {"DBInstanceIdentifier": db.identifier},
                            "threshold": 1400},
            "cpu": {"metric_name": "CPUUtilization", "dimensions": {"DBInstanceIdentifier": db.identifier}, "threshold": 80},
            "proxy-clients": {"metric_name": "ClientConnections", "dimensions": {"ProxyName": prx.name}, "threshold": 300},
        }
        if lag_alarm:
            alarms["replica-lag"] = {"metric_name": "ReplicaLag", "dimensions": {"DBInstanceIdentifier": rep.identifier},
                                     "threshold": 30}
        for name, override in (alarm_overrides or {}).items():
            alarms[name] = {**alarms.get(name, {}), **override}
        for name, spec in alarms.items():
            aws.cloudwatch.MetricAlarm(
                name,
                **{
                    "namespace": "AWS/RDS",
                    "statistic": "Average",
                    "period": 60,
                    "evaluation_periods": 3,
                    "comparison_operator": "GreaterThanThreshold",
                    "alarm_actions": [topic.arn],
                    **spec,
                },
            )
        if extra is not None:
            extra(ctx)

    return program


#: The unchanged setup, shared by the cases whose clean counterpart is the baseline (its run is cached).
CLEAN = clean_setup()
