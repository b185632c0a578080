"""Every policy, through the real pack over the analyzer protocol: a clean program, then one defect at a time.

Each case injects exactly one defect into :func:`clean_setup` and asserts that exactly the
expected policy fires, at the level prod.json gives it (mandatory).  Network cases run with
computed values unknown (a first preview) and with fake known values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from policy_harness import Ctx, check, clean_setup, env_config

from gate.analyzer import PolicyGate


@pytest.fixture(autouse=True)
def _pack(policy_gate: PolicyGate) -> None:
    """Start (or reuse) the session's pack before each test."""


def _extra_instance(max_connections: str, *, proxied: bool) -> Callable[[Ctx], None]:
    """A second, otherwise clean instance whose parameter group sets max_connections."""

    def extra(ctx: Ctx) -> None:
        params = aws.rds.ParameterGroup(
            "reports-params", family="postgres15",
            parameters=[{"name": "max_connections", "value": max_connections, "apply_method": "pending-reboot"}],
        )
        db = aws.rds.Instance(
            "reports", identifier="reports-db", engine="postgres", instance_class="db.r6g.large", allocated_storage=50,
            storage_encrypted=True, username="postgres", password="x" * 16, multi_az=True, publicly_accessible=False,
            parameter_group_name=params.name, backup_retention_period=14, deletion_protection=True,
            skip_final_snapshot=False, final_snapshot_identifier="reports-final",
            iam_database_authentication_enabled=True,
        )
        if proxied:
            group = aws.rds.ProxyDefaultTargetGroup(
                "reports-pool", db_proxy_name=ctx.proxy.name, connection_pool_config={"max_connections_percent": 90}
            )
            aws.rds.ProxyTarget("reports-target", db_proxy_name=ctx.proxy.name, target_group_name=group.name,
                                db_instance_identifier=db.identifier)

    return extra


def _role_policy_doc(doc: dict[str, Any]) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        aws.iam.RolePolicy("proxy-secret", role=ctx.role.id, policy=json.dumps(doc))

    return add


def _managed(arn: str) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        aws.iam.RolePolicyAttachment("proxy-managed", role=ctx.role.name, policy_arn=arn)

    return add


def _customer_policy(actions: list[str]) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        policy = aws.iam.Policy(
            "proxy-policy",
            policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}),
        )
        aws.iam.RolePolicyAttachment("proxy-policy", role=ctx.role.name, policy_arn=policy.arn)

    return add


def _endpoint(role: str) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        aws.rds.ProxyEndpoint("reader", db_proxy_name=ctx.proxy.name, db_proxy_endpoint_name="reader",
                              vpc_subnet_ids=["subnet-0a1b2c3d4e5f60001"], target_role=role)

    return add


#: The unchanged setup, shared by the cases whose clean counterpart is the baseline (its run is cached).
CLEAN = clean_setup()

# (policy, violating program, clean counterpart)
CASES: list[tuple[str, str, Callable[[], None], Callable[[], None]]] = [
    ("rds-not-publicly-accessible", "public", clean_setup(primary={"publicly_accessible": True}), CLEAN),
    ("rds-storage-encrypted", "unencrypted", clean_setup(primary={"storage_encrypted": False}),
     clean_setup(replica={"storage_encrypted": None})),
    ("rds-storage-encrypted", "unset", clean_setup(primary={"storage_encrypted": None, "kms_key_id": None}), CLEAN),
    ("rds-multi-az", "false", clean_setup(primary={"multi_az": False}), clean_setup(replica={"multi_az": False})),
    ("rds-multi-az", "unset", clean_setup(primary={"multi_az": None}), CLEAN),
    ("rds-backups-enabled", "zero", clean_setup(primary={"backup_retention_period": 0}), CLEAN),
    ("rds-backup-retention", "short", clean_setup(primary={"backup_retention_period": 3}),
     clean_setup(primary={"backup_retention_period": 7})),
    ("rds-backup-retention", "unset", clean_setup(primary={"backup_retention_period": None}), CLEAN),
    ("rds-deletion-protection", "off", clean_setup(primary={"deletion_protection": False}),
     clean_setup(replica={"deletion_protection": False})),
    ("rds-final-snapshot", "skipped", clean_setup(primary={"skip_final_snapshot": True}), CLEAN),
    ("rds-master-username", "admin", clean_setup(primary={"username": "admin"}), clean_setup(primary={"username": "postgres"})),
    ("rds-master-username", "pg_prefix", clean_setup(primary={"username": "pg_owner"}),
     clean_setup(primary={"username": "orders_owner"})),
    ("rds-master-username", "rdsadmin", clean_setup(primary={"username": "rdsadmin"}), CLEAN),
    ("rds-static-parameter-pending-reboot", "max_connections",
     clean_setup(parameters=[{"name": "max_connections", "value": "2000", "apply_method": "immediate"}]),
     clean_setup(parameters=[{"name": "max_connections", "value": "2000", "apply_method": "pending-reboot"}])),
    ("rds-static-parameter-pending-reboot", "shared_buffers_default_method",
     clean_setup(parameters=[{"name": "shared_buffers", "value": "{DBInstanceClassMemory/32768}"}]),
     clean_setup(parameters=[{"name": "work_mem", "value": "6144"}])),
    ("rds-parameter-units", "shared_buffers_bytes",
     clean_setup(parameters=[{"name": "shared_buffers", "value": "{DBInstanceClassMemory/4}", "apply_method": "pending-reboot"}]),
     clean_setup(parameters=[{"name": "shared_buffers", "value": "{DBInstanceClassMemory/32768}",
                              "apply_method": "pending-reboot"}])),
    ("rds-parameter-units", "effective_cache_size_number",
     clean_setup(parameters=[{"name": "effective_cache_size", "value": "4194304"}]),  # 32 GiB on a 16 GiB class
     clean_setup(parameters=[{"name": "effective_cache_size", "value": "{DBInstanceClassMemory/16384}"}])),
    ("rds-parameter-units", "unit_suffix",
     clean_setup(parameters=[{"name": "shared_buffers", "value": "4GB", "apply_method": "pending-reboot"}]),
     clean_setup(parameters=[{"name": "shared_buffers", "value": "524288", "apply_method": "pending-reboot"}])),
    ("rds-memory-budget", "work_mem",
     clean_setup(parameters=[{"name": "work_mem", "value": "65536"}]),
     clean_setup(parameters=[{"name": "work_mem", "value": "4096"}])),
    ("rds-max-connections-without-proxy", "raised",
     clean_setup(extra=_extra_instance("3000", proxied=False)),
     clean_setup(extra=_extra_instance("1000", proxied=False))),
    ("rds-max-connections-without-proxy", "raised_but_proxied",
     clean_setup(extra=_extra_instance("LEAST({DBInstanceClassMemory/4000000},5000)", proxied=False)),
     clean_setup(extra=_extra_instance("3000", proxied=True))),
    ("proxy-role-can-read-secret", "no_role", clean_setup(proxy={"role_arn": ""}), CLEAN),
    ("proxy-role-can-read-secret", "no_policies", clean_setup(role_policy=None),
     clean_setup(role_policy=_managed("arn:aws:iam::aws:policy/SecretsManagerReadWrite"))),
    ("proxy-role-can-read-secret", "wrong_action",
     clean_setup(role_policy=_role_policy_doc(
         {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]})),
     clean_setup(role_policy=_role_policy_doc(
         {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:Get*", "Resource": "*"}]}))),
    ("proxy-role-can-read-secret", "attached_policy",
     clean_setup(role_policy=_customer_policy(["secretsmanager:ListSecrets"])),
     clean_setup(role_policy=_customer_policy(["secretsmanager:GetSecretValue", "kms:Decrypt"]))),
    ("proxy-role-can-read-secret", "untrusted_role", clean_setup(trust_service="ec2.amazonaws.com"), CLEAN),
    ("proxy-iam-auth-requires-db-iam-auth", "db_iam_off",
     clean_setup(primary={"iam_database_authentication_enabled": False}),
     clean_setup(primary={"iam_database_authentication_enabled": False},
                 proxy={"auths": [aws.rds.ProxyAuthArgs(auth_scheme="SECRETS", iam_auth="DISABLED",
                                                         secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:x")]},
                 role_policy=_managed("arn:aws:iam::aws:policy/SecretsManagerReadWrite"))),
    ("proxy-iam-auth-requires-db-iam-auth", "end_to_end_iam",
     clean_setup(primary={"iam_database_authentication_enabled": None},
                 proxy={"default_auth_scheme": "IAM_AUTH", "auths": None}, role_policy=None),
     clean_setup(proxy={"default_auth_scheme": "IAM_AUTH", "auths": None}, role_policy=None)),
    ("proxy-require-tls", "off", clean_setup(proxy={"require_tls": False}), CLEAN),
    ("proxy-require-tls", "unset", clean_setup(proxy={"require_tls": None}), CLEAN),
    ("proxy-debug-logging-off", "on", clean_setup(proxy={"debug_logging": True}), clean_setup(proxy={"debug_logging": False})),
    ("proxy-borrow-timeout", "too_long", clean_setup(pool={"connection_borrow_timeout": 600}),
     clean_setup(pool={"connection_borrow_timeout": 300})),
    ("proxy-borrow-timeout", "zero", clean_setup(pool={"connection_borrow_timeout": 0}),
     clean_setup(pool={"connection_borrow_timeout": 1})),
    ("proxy-pinning-filters-match-engine", "exclude_variable_sets",
     clean_setup(pool={"session_pinning_filters": ["EXCLUDE_VARIABLE_SETS"]}),
     clean_setup(pool={"init_query": "SET timezone='UTC'"})),
    ("proxy-read-only-endpoint-needs-cluster", "read_only", clean_setup(extra=_endpoint("READ_ONLY")),
     clean_setup(extra=_endpoint("READ_WRITE"))),
    ("proxy-target-not-replica", "replica", clean_setup(target="replica", replica={"iam_database_authentication_enabled": True}),
     clean_setup(target="primary")),
    ("proxy-pool-headroom", "all_connections", clean_setup(pool={"max_connections_percent": 100}),
     clean_setup(pool={"max_connections_percent": 99})),
    ("proxy-pool-headroom", "idle_above_max",
     clean_setup(pool={"max_connections_percent": 50, "max_idle_connections_percent": 60}),
     clean_setup(pool={"max_connections_percent": 50, "max_idle_connections_percent": 50})),
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


def _ingress_inline(source: str) -> Callable[[aws.ec2.SecurityGroup], list[Any]]:
    def ingress(app_sg: aws.ec2.SecurityGroup) -> list[Any]:
        if source == "app":
            return [aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=5432, to_port=5432, security_groups=[app_sg.id])]
        return [aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=5432, to_port=5432, cidr_blocks=[source])]

    return ingress


def _ingress_vpc_rule(source: str) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        if source == "app":
            aws.vpc.SecurityGroupIngressRule("db-from-app", security_group_id=ctx.db_sg.id,
                                             referenced_security_group_id=ctx.app_sg.id, ip_protocol="tcp",
                                             from_port=5432, to_port=5432)
        elif source.startswith("sg-"):
            aws.vpc.SecurityGroupIngressRule("db-from-external", security_group_id=ctx.db_sg.id,
                                             referenced_security_group_id=source, ip_protocol="tcp",
                                             from_port=5432, to_port=5432)
        else:
            aws.vpc.SecurityGroupIngressRule("db-from-cidr", security_group_id=ctx.db_sg.id, cidr_ipv4=source,
                                             ip_protocol="tcp", from_port=5432, to_port=5432)

    return add


def _ingress_legacy_rule(source: str) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        if source == "app":
            aws.ec2.SecurityGroupRule("db-from-app", type="ingress", security_group_id=ctx.db_sg.id,
                                      source_security_group_id=ctx.app_sg.id, protocol="tcp", from_port=5432, to_port=5432)
        else:
            aws.ec2.SecurityGroupRule("db-from-cidr", type="ingress", security_group_id=ctx.db_sg.id, cidr_blocks=[source],
                                      protocol="-1", from_port=0, to_port=0)

    return add


def _proxy_sg_extra_rule(ctx: Ctx) -> None:
    """Clean counterpart: more ingress from the proxy's group, in the legacy form."""
    aws.ec2.SecurityGroupRule("db-from-proxy-legacy", type="ingress", security_group_id=ctx.db_sg.id,
                              source_security_group_id=ctx.proxy_sg.id, protocol="tcp", from_port=5432, to_port=5432)


def _into_replica_sg(*sources: str) -> Callable[[Ctx], None]:
    """More ingress into the replica's own group: ``external`` (a group id outside the stack), ``app-legacy``
    (the app group, as an aws.ec2.SecurityGroupRule) or a CIDR."""

    def add(ctx: Ctx) -> None:
        assert ctx.replica_sg is not None, "use with clean_setup(replica_sg=...)"
        for n, source in enumerate(sources):
            if source == "external":
                aws.vpc.SecurityGroupIngressRule(f"replica-from-external-{n}", security_group_id=ctx.replica_sg.id,
                                                 referenced_security_group_id="sg-0123456789abcdef0", ip_protocol="tcp",
                                                 from_port=5432, to_port=5432)
            elif source == "app-legacy":
                aws.ec2.SecurityGroupRule(f"replica-from-app-legacy-{n}", type="ingress",
                                          security_group_id=ctx.replica_sg.id, source_security_group_id=ctx.app_sg.id,
                                          protocol="tcp", from_port=5432, to_port=5432)
            else:
                aws.vpc.SecurityGroupIngressRule(f"replica-from-cidr-{n}", security_group_id=ctx.replica_sg.id,
                                                 cidr_ipv4=source, ip_protocol="tcp", from_port=5432, to_port=5432)

    return add


#: The read path RDS leaves for instance replicas: the replica in a group of its own that admits the app group.
REPLICA_OWN_GROUP = clean_setup(replica_sg="own")

NETWORK_CASES: list[tuple[str, str, Callable[[], None], Callable[[], None]]] = [
    ("rds-ingress-only-from-proxy", "inline", clean_setup(db_sg_ingress=_ingress_inline("app")), CLEAN),
    ("rds-ingress-only-from-proxy", "vpc_ingress_rule", clean_setup(extra=_ingress_vpc_rule("app")),
     clean_setup(extra=_proxy_sg_extra_rule)),
    ("rds-ingress-only-from-proxy", "legacy_rule", clean_setup(extra=_ingress_legacy_rule("app")),
     clean_setup(extra=_proxy_sg_extra_rule)),
    ("rds-ingress-only-from-proxy", "external_group", clean_setup(extra=_ingress_vpc_rule("sg-0123456789abcdef0")),
     CLEAN),
    ("rds-no-cidr-ingress", "inline_world", clean_setup(db_sg_ingress=_ingress_inline("0.0.0.0/0")), CLEAN),
    ("rds-no-cidr-ingress", "vpc_rule_private", clean_setup(extra=_ingress_vpc_rule("10.0.0.0/8")), CLEAN),
    ("rds-no-cidr-ingress", "legacy_all_ports", clean_setup(extra=_ingress_legacy_rule("192.168.0.0/16")), CLEAN),
    # A replica-only group may admit security groups (stack or external, any rule form); once the primary
    # shares it, the app group reaches the primary around the proxy.
    ("rds-ingress-only-from-proxy", "replica_group_shared_with_primary", clean_setup(replica_sg="shared"),
     REPLICA_OWN_GROUP),
    ("rds-ingress-only-from-proxy", "replica_group_shared_other_sources",
     clean_setup(replica_sg="shared", extra=_into_replica_sg("external", "app-legacy")),
     clean_setup(replica_sg="own", extra=_into_replica_sg("external", "app-legacy"))),
    ("rds-no-cidr-ingress", "into_replica_group", clean_setup(replica_sg="own", extra=_into_replica_sg("10.0.0.0/8")),
     REPLICA_OWN_GROUP),
]


def _assert_only(result: Any, policy: str) -> None:
    fired = result.fired()
    assert fired == {policy}, "\n".join(f"{v.policy}: {v.message}" for v in result.violations)
    assert all(v.level == "mandatory" for v in result.violations)
    assert not result.passed


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_policy_fires_and_clean_counterpart_passes(policy: str, case: str, bad: Callable[[], None], good: Callable[[], None]):
    _assert_only(check(bad), policy)
    clean = check(good)
    assert clean.violations == [], "\n".join(f"{v.policy}: {v.message}" for v in clean.violations)
    assert clean.passed


@pytest.mark.parametrize("unknown", [True, False], ids=["unknown-ids", "known-ids"])
@pytest.mark.parametrize(("policy", "case", "bad", "good"), NETWORK_CASES, ids=[f"{c[0]}:{c[1]}" for c in NETWORK_CASES])
def test_network_policies_with_unknown_and_known_ids(
    policy: str, case: str, bad: Callable[[], None], good: Callable[[], None], unknown: bool
):
    _assert_only(check(bad, unknown=unknown), policy)
    assert check(good, unknown=unknown).violations == []


def test_clean_setup_passes_in_both_environments():
    for env in ("dev", "prod"):
        result = check(CLEAN, env)
        assert result.violations == [] and result.passed


def test_every_policy_has_a_violating_case(policy_gate: PolicyGate):
    covered = {c[0] for c in CASES} | {c[0] for c in NETWORK_CASES}
    assert covered == set(policy_gate.info().policies)


def test_messages_name_the_resource_and_the_fix():
    result = check(clean_setup(primary={"publicly_accessible": True, "username": "admin"}))
    for v in result.violations:
        assert 'aws.rds.Instance "primary"' in v.message
        assert v.urn.endswith("::primary")
    assert {v.policy for v in result.violations} == {"rds-not-publicly-accessible", "rds-master-username"}


def test_violation_is_attributed_to_the_rule_resource():
    result = check(clean_setup(extra=_ingress_vpc_rule("app")))
    (violation,) = result.violations
    assert violation.resource_type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    assert violation.resource_name == "db-from-app"
    assert 'aws.ec2.SecurityGroup "app"' in violation.message and 'aws.rds.Instance "primary"' in violation.message


def test_shared_proxy_and_database_group_with_app_ingress_is_direct_access():
    """A group attached to both the proxy and the instance: app ingress into it reaches the database."""

    def extra(ctx: Ctx) -> None:
        shared = aws.ec2.SecurityGroup("shared", vpc_id="vpc-0a1b2c3d4e5f67890", description="shared")
        aws.vpc.SecurityGroupIngressRule("shared-from-app", security_group_id=shared.id,
                                         referenced_security_group_id=ctx.app_sg.id, ip_protocol="tcp",
                                         from_port=5432, to_port=5432)
        aws.vpc.SecurityGroupIngressRule("shared-self", security_group_id=shared.id,
                                         referenced_security_group_id=shared.id, ip_protocol="tcp",
                                         from_port=5432, to_port=5432)
        aws.rds.ProxyEndpoint("shared-endpoint", db_proxy_name=ctx.proxy.name, db_proxy_endpoint_name="shared",
                              vpc_subnet_ids=["subnet-0a1b2c3d4e5f60001"], vpc_security_group_ids=[shared.id])
        aws.rds.Instance("other", instance_class="db.t4g.medium", engine="postgres", username="postgres", password="x" * 16,
                         allocated_storage=20, storage_encrypted=True, multi_az=True, vpc_security_group_ids=[shared.id],
                         backup_retention_period=7, deletion_protection=True, skip_final_snapshot=False)

    result = check(clean_setup(extra=extra))
    assert result.fired() == {"rds-ingress-only-from-proxy"}
    assert [v.resource_name for v in result.violations] == ["shared-from-app"]


def test_replica_group_messages_say_what_to_do_instead():
    shared = check(clean_setup(replica_sg="shared"))
    (violation,) = shared.violations
    assert violation.resource_name == "replica-from-app"
    assert 'aws.rds.Instance "primary"' in violation.message and 'aws.rds.Instance "replica"' in violation.message
    assert "separate group" in violation.message
    # Into a group of the primary alone, the message has no word about replicas.
    (direct,) = check(clean_setup(replica_sg="own", extra=_ingress_vpc_rule("app"))).violations
    assert direct.resource_name == "db-from-app" and "replica" not in direct.message
    cidr = check(clean_setup(replica_sg="own", extra=_into_replica_sg("0.0.0.0/0")))
    (violation,) = cidr.violations
    assert violation.policy == "rds-no-cidr-ingress" and violation.resource_name == "replica-from-cidr-0"
    assert "(the whole internet)" in violation.message
    assert "application tier's security group" in violation.message and "RDS Proxy" not in violation.message


def test_replica_own_group_passes_in_both_environments():
    for env in ("dev", "prod"):
        result = check(REPLICA_OWN_GROUP, env)
        assert result.violations == [] and result.passed


def test_cidr_allow_list_and_port_range_from_config():
    bad = clean_setup(extra=_ingress_vpc_rule("10.1.0.0/16"))
    config = env_config("prod")
    config["rds-no-cidr-ingress"] = {"enforcementLevel": "mandatory", "allowedCidrs": ["10.0.0.0/8"]}
    assert check(bad, config).violations == []

    def ssh(ctx: Ctx) -> None:
        aws.vpc.SecurityGroupIngressRule("db-ssh", security_group_id=ctx.db_sg.id, cidr_ipv4="10.0.0.0/8",
                                         ip_protocol="tcp", from_port=22, to_port=22)

    assert check(clean_setup(extra=ssh)).violations == []  # not the database port


def test_borrow_timeout_range_from_config():
    config = env_config("prod")
    config["proxy-borrow-timeout"] = {"maximumSeconds": 60}
    assert check(clean_setup(pool={"connection_borrow_timeout": 120}), config).fired() == {"proxy-borrow-timeout"}


def test_dev_config_makes_cost_policies_advisory():
    program = clean_setup(primary={"multi_az": False, "deletion_protection": False, "backup_retention_period": 3})
    dev = check(program, "dev")
    assert dev.passed and dev.fired("advisory") == {"rds-multi-az", "rds-deletion-protection", "rds-backup-retention"}
    prod = check(program, "prod")
    assert not prod.passed and prod.fired("mandatory") == {"rds-multi-az", "rds-deletion-protection", "rds-backup-retention"}
    # security stays mandatory in dev
    assert not check(clean_setup(primary={"publicly_accessible": True}), "dev").passed


def test_disabled_policy_does_not_run():
    config = env_config("prod")
    config["rds-not-publicly-accessible"] = "disabled"
    assert check(clean_setup(primary={"publicly_accessible": True}), config).violations == []


def test_role_policy_with_known_arns_is_verified():
    """With known outputs the secret ARN in the document is compared with the proxy's auth secret."""
    assert check(CLEAN, unknown=False).violations == []

    def other_secret(ctx: Ctx) -> None:
        other = aws.secretsmanager.Secret("other")
        aws.iam.RolePolicy(
            "proxy-secret", role=ctx.role.id,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": other.arn}]}),
        )

    assert check(clean_setup(role_policy=other_secret), unknown=False).fired() == {"proxy-role-can-read-secret"}
    # during a preview the ARNs are unknown: the pack does not guess
    assert check(clean_setup(role_policy=other_secret), unknown=True).violations == []


def test_unrelated_resources_are_ignored():
    def program() -> None:
        aws.sqs.Queue("jobs")
        aws.cloudwatch.MetricAlarm("queue-depth", namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
                                   comparison_operator="GreaterThanThreshold", evaluation_periods=1, threshold=10,
                                   period=60, statistic="Sum")
        aws.ec2.SecurityGroup("web", vpc_id="vpc-0a1b2c3d4e5f67890", ingress=[aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=443, to_port=443, cidr_blocks=["0.0.0.0/0"])])

    assert check(program).violations == []


def test_mysql_parameter_groups_are_not_judged_as_postgres():
    def program() -> None:
        aws.rds.ParameterGroup("mysql", family="mysql8.0",
                               parameters=[{"name": "max_connections", "value": "500", "apply_method": "immediate"}])

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

    result = check(program)
    assert result.violations == [], "\n".join(f"{v.policy}: {v.message}" for v in result.violations)
