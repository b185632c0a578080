"""Mutation corpus (issue 8 section 4) for RDS Proxy, credentials, keys, IAM and passwords.

Every case is a self-contained proxy setup declared by :func:`mini` under its own name prefix, in
forms this repository's program does not use: omitted properties, separate policy and attachment
resources, customer managed policies, key policies as their own resource, the RDS-managed master
secret, several auth entries, subnets as stack resources, literal documents.  A DEFECT is the
clean setup with one defect; it must raise a mandatory finding of its policy on one of its own
resources.  A CONTROL is a legitimate design (issue 8 section 3) that must raise no mandatory
finding at all.  All defects run as one program and all controls as another (each case only
declares resources under its prefix), in the three shapes the CLI sends: inputs, planned
outputs with unknowns, deployed state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random
import pytest
from policy_harness import SHAPES, check

from gate.analyzer import GateResult

ACCOUNT = "123456789012"
REGION = "us-east-1"
VPC = "vpc-0a1b2c3d4e5f67890"
VIA_SECRETS_MANAGER = {"StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}}
SAFE_SPECIALS = "!#$%&*()-_=+[]{}<>:?"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def trust(service: str = "rds.amazonaws.com") -> str:
    return doc({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


def secret_pattern(name: str) -> str:
    """A Resource naming one secret whatever its random suffix (Secrets Manager adds "-" and 6 characters)."""
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-*"


@dataclass
class Mini:
    """The resources of one case's setup."""

    prefix: str
    subnets: list[aws.ec2.Subnet]
    proxy_sg: aws.ec2.SecurityGroup
    key: aws.kms.Key
    secret: aws.secretsmanager.Secret
    db: aws.rds.Instance
    role: aws.iam.Role
    proxy: aws.rds.Proxy | None = None


Hook = Callable[[Mini], Any]


@dataclass
class Shared:
    """Network and key every case uses unless it changes them (fewer resources: the corpus stays fast)."""

    subnets: list[aws.ec2.Subnet]
    proxy_sg: aws.ec2.SecurityGroup
    db_sg: aws.ec2.SecurityGroup
    key: aws.kms.Key
    db: aws.rds.Instance | None = None


_shared: list[Shared] = []


def _subnets(p: str, azs: tuple[str, str]) -> list[aws.ec2.Subnet]:
    return [
        aws.ec2.Subnet(f"{p}-subnet-{i}", vpc_id=VPC, cidr_block=f"10.{i}.0.0/24", availability_zone=az)
        for i, az in enumerate(azs)
    ]


def _groups(p: str) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
    proxy_sg = aws.ec2.SecurityGroup(f"{p}-proxy-sg", vpc_id=VPC, description=f"{p} RDS Proxy")
    db_sg = aws.ec2.SecurityGroup(f"{p}-db-sg", vpc_id=VPC, description=f"{p} database")
    aws.vpc.SecurityGroupIngressRule(
        f"{p}-db-from-proxy", security_group_id=db_sg.id, referenced_security_group_id=proxy_sg.id,
        ip_protocol="tcp", from_port=5432, to_port=5432,
    )
    return proxy_sg, db_sg


def _key(p: str, **key: Any) -> aws.kms.Key:
    return aws.kms.Key(f"{p}-key", description=f"{p} credentials", enable_key_rotation=True, **key)


def _instance(p: str, kms_key: aws.kms.Key, db_sg: aws.ec2.SecurityGroup, db: dict[str, Any] | None) -> aws.rds.Instance:
    """A clean Multi-AZ RDS for PostgreSQL instance reachable from the proxies' group only."""
    return aws.rds.Instance(
        f"{p}-db",
        **{
            "identifier": f"{p}-db",
            "engine": "postgres",
            "engine_version": "15.8",
            "instance_class": "db.r6g.large",
            "allocated_storage": 100,
            "storage_encrypted": True,
            "kms_key_id": kms_key.arn,
            "username": "postgres",
            "password": "not-a-real-password",
            "multi_az": True,
            "vpc_security_group_ids": [db_sg.id],
            "publicly_accessible": False,
            "backup_retention_period": 14,
            "deletion_protection": True,
            "skip_final_snapshot": False,
            "final_snapshot_identifier": f"{p}-final",
            "iam_database_authentication_enabled": True,
            **(db or {}),
        },
    )


def _declare_shared() -> None:
    proxy_sg, db_sg = _groups("shared")
    shared = Shared(_subnets("shared", ("us-east-1a", "us-east-1b")), proxy_sg, db_sg, _key("shared"))
    shared.db = _instance("shared", shared.key, db_sg, None)
    _shared[:] = [shared]


def mini(
    p: str,
    *,
    azs: tuple[str, str] | None = None,
    key: dict[str, Any] | None = None,
    secret: dict[str, Any] | None = None,
    db: dict[str, Any] | None = None,
    role_trust: str = "rds.amazonaws.com",
    role_policy: Callable[[Mini], str | pulumi.Output[str] | None] | None = None,
    auths: Callable[[Mini], list[Any] | None] | None = None,
    proxy: dict[str, Any] | None = None,
    pool: dict[str, Any] | None = None,
    target_db: Callable[[Mini], aws.rds.Instance] | None = None,
    after: Hook | None = None,
) -> Mini:
    """A clean proxy setup named *p*: two subnets in two AZs, groups, a customer key (default key policy; these four
    shared by every case that keeps them), a named
    secret under it, a Multi-AZ RDS for PostgreSQL instance, the proxy's role with least-privilege grants written
    against the secret's name, the proxy (TLS, IAM from clients, the secret), its pool and its target.  Every
    keyword changes one part."""
    shared = _shared[0]
    subnets = _subnets(p, azs) if azs is not None else shared.subnets
    proxy_sg, db_sg = shared.proxy_sg, shared.db_sg
    kms_key = _key(p, **key) if key is not None else shared.key
    sm_secret = aws.secretsmanager.Secret(f"{p}-secret", **{"name": f"{p}/master", "kms_key_id": kms_key.arn, **(secret or {})})
    instance = shared.db if db is None and key is None and shared.db is not None else _instance(p, kms_key, db_sg, db)
    role = aws.iam.Role(f"{p}-proxy-role", name=f"{p}-proxy-role", assume_role_policy=trust(role_trust))

    m = Mini(p, subnets, proxy_sg, kms_key, sm_secret, instance, role)
    document = role_policy(m) if role_policy else doc(
        allow("secretsmanager:GetSecretValue", secret_pattern(f"{p}/master")),
        allow("kms:Decrypt", "*", Condition=VIA_SECRETS_MANAGER),
    )
    if document is not None:
        aws.iam.RolePolicy(f"{p}-proxy-role-policy", role=role.id, policy=document)
    default_auths = [aws.rds.ProxyAuthArgs(auth_scheme="SECRETS", iam_auth="REQUIRED", secret_arn=sm_secret.arn,
                                           client_password_auth_type="POSTGRES_SCRAM_SHA_256")]
    m.proxy = aws.rds.Proxy(
        f"{p}-proxy",
        **{
            "name": f"{p}-proxy",
            "engine_family": "POSTGRESQL",
            "role_arn": role.arn,
            "require_tls": True,
            "idle_client_timeout": 1800,
            "vpc_subnet_ids": [s.id for s in subnets],
            "vpc_security_group_ids": [proxy_sg.id],
            "auths": auths(m) if auths else default_auths,
            **(proxy or {}),
        },
    )
    group = aws.rds.ProxyDefaultTargetGroup(
        f"{p}-pool", db_proxy_name=m.proxy.name,
        connection_pool_config={"max_connections_percent": 90, "max_idle_connections_percent": 45,
                                "connection_borrow_timeout": 120, **(pool or {})},
    )
    aws.rds.ProxyTarget(f"{p}-target", db_proxy_name=m.proxy.name, target_group_name=group.name,
                        db_instance_identifier=(target_db(m) if target_db else instance).identifier)
    if after is not None:
        after(m)
    return m


# --- Defect builders --------------------------------------------------------------------------------------


def _replica_target(m: Mini) -> aws.rds.Instance:
    return aws.rds.Instance(f"{m.prefix}-replica", identifier=f"{m.prefix}-replica", replicate_source_db=m.db.identifier,
                            instance_class="db.r6g.large", publicly_accessible=False, skip_final_snapshot=True,
                            iam_database_authentication_enabled=True)


def _endpoint(target_role: str | None = None, one_subnet: bool = False) -> Hook:
    def add(m: Mini) -> None:
        assert m.proxy is not None
        aws.rds.ProxyEndpoint(f"{m.prefix}-endpoint", db_proxy_name=m.proxy.name, db_proxy_endpoint_name=f"{m.prefix}-ep",
                              vpc_subnet_ids=[s.id for s in m.subnets[: 1 if one_subnet else 2]],
                              **({"target_role": target_role} if target_role else {}))

    return add


def _customer_policy(*statements: dict[str, Any]) -> Hook:
    """A customer managed policy attached with the legacy PolicyAttachment resource."""

    def add(m: Mini) -> None:
        policy = aws.iam.Policy(f"{m.prefix}-access", policy=doc(*statements))
        aws.iam.PolicyAttachment(f"{m.prefix}-access", roles=[m.role.name], policy_arn=policy.arn)

    return add


def _app(**role: Any) -> Hook:
    def add(m: Mini) -> None:
        aws.iam.Role(f"{m.prefix}-app", assume_role_policy=trust("lambda.amazonaws.com"), **role)

    return add


def _user_policy(*statements: dict[str, Any]) -> Hook:
    def add(m: Mini) -> None:
        user = aws.iam.User(f"{m.prefix}-ops")
        aws.iam.UserPolicy(f"{m.prefix}-ops", user=user.name, policy=doc(*statements))

    return add


def _key_policy_resource(*statements: dict[str, Any]) -> Hook:
    def add(m: Mini) -> None:
        aws.kms.KeyPolicy(f"{m.prefix}-key-policy", key_id=m.key.id, policy=doc(*statements))

    return add


def _secret_policy(*statements: dict[str, Any]) -> Hook:
    def add(m: Mini) -> None:
        aws.secretsmanager.SecretPolicy(f"{m.prefix}-secret-policy", secret_arn=m.secret.arn, policy=doc(*statements))

    return add


def _generated_password(**generator: Any) -> Hook:
    """A second instance (not proxied) whose master password random.RandomPassword generates."""

    def add(m: Mini) -> None:
        password = random.RandomPassword(f"{m.prefix}-reports-password", **generator)
        reports_sg = aws.ec2.SecurityGroup(f"{m.prefix}-reports-sg", vpc_id=VPC, description=f"{m.prefix} reports")
        aws.rds.Instance(
            f"{m.prefix}-reports", identifier=f"{m.prefix}-reports", engine="postgres", engine_version="15.8",
            instance_class="db.r6g.large", allocated_storage=50, storage_encrypted=True, kms_key_id=m.key.arn,
            username="reports_owner", password=password.result, multi_az=True, publicly_accessible=False,
            vpc_security_group_ids=[reports_sg.id], backup_retention_period=14, deletion_protection=True,
            skip_final_snapshot=False, final_snapshot_identifier=f"{m.prefix}-reports-final",
        )

    return add


_ROOT = {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
         "Resource": "*"}
_KEY_ADMINS = {"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/key-admins"},
               "Action": "kms:*", "Resource": "*"}


def _managed_master_secret(p: str, **db: Any) -> dict[str, Any]:
    """Keywords of :func:`mini` for a proxy that uses the instance's RDS-managed master secret."""
    return {
        "db": {"manage_master_user_password": True, "password": None, **db},
        "auths": lambda m: [aws.rds.ProxyAuthArgs(auth_scheme="SECRETS", iam_auth="REQUIRED",
                                                  secret_arn=m.db.master_user_secrets[0].secret_arn)],
        "role_policy": lambda m: doc(
            allow("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db-*"),
            allow("kms:Decrypt", "*", Condition=VIA_SECRETS_MANAGER),
        ),
    }


_PROXY_DB_USER = f"arn:aws:rds-db:{REGION}:{ACCOUNT}:dbuser:prx-0123456789abcdef01234567"

#: (case id, setup declaring the case's resources under its prefix, the policy that must fire mandatory)
DEFECTS: list[tuple[str, Callable[[str], Any], str]] = [
    # RDS Proxy: effective values and API constraints
    ("tls-omitted", lambda p: mini(p, proxy={"require_tls": None}), "proxy-require-tls"),
    ("idle-timeout-a-day", lambda p: mini(p, proxy={"idle_client_timeout": 86_400}), "proxy-idle-client-timeout"),
    ("idle-timeout-zero", lambda p: mini(p, proxy={"idle_client_timeout": 0}), "proxy-idle-client-timeout"),
    ("family-mysql-for-postgres", lambda p: mini(p, proxy={"engine_family": "MYSQL"}, auths=lambda m: [
        aws.rds.ProxyAuthArgs(auth_scheme="SECRETS", secret_arn=m.secret.arn)]), "proxy-engine-family"),
    ("auth-without-secret", lambda p: mini(p, auths=lambda m: [aws.rds.ProxyAuthArgs(auth_scheme="SECRETS",
                                                                                   iam_auth="REQUIRED")]),
     "proxy-auth-config"),
    ("auth-iam-enabled-postgres", lambda p: mini(p, auths=lambda m: [aws.rds.ProxyAuthArgs(
        auth_scheme="SECRETS", secret_arn=m.secret.arn, iam_auth="ENABLED")]), "proxy-auth-config"),
    ("auth-mysql-client-type", lambda p: mini(p, auths=lambda m: [aws.rds.ProxyAuthArgs(
        secret_arn=m.secret.arn, client_password_auth_type="MYSQL_CACHING_SHA2_PASSWORD")]), "proxy-auth-config"),
    ("auths-omitted", lambda p: mini(p, proxy={"default_auth_scheme": "NONE"}, auths=lambda m: None),
     "proxy-auth-config"),
    ("subnets-one-az", lambda p: mini(p, azs=("us-east-1a", "us-east-1a")), "proxy-subnets-two-azs"),
    ("endpoint-one-subnet", lambda p: mini(p, after=_endpoint(one_subnet=True)), "proxy-subnets-two-azs"),
    ("pool-over-100", lambda p: mini(p, pool={"max_connections_percent": 101}), "proxy-pool-percent-ranges"),
    ("pool-idle-over-default-max", lambda p: mini(p, pool={"max_connections_percent": None,
                                                           "max_idle_connections_percent": 101}),
     "proxy-pool-percent-ranges"),
    ("borrow-timeout-10-minutes", lambda p: mini(p, pool={"connection_borrow_timeout": 600}), "proxy-borrow-timeout"),
    ("pinning-unknown-filter", lambda p: mini(p, pool={"session_pinning_filters": ["EXCLUDE_SET_STATEMENTS"]}),
     "proxy-pinning-filters-match-engine"),
    ("read-only-endpoint", lambda p: mini(p, after=_endpoint("READ_ONLY")), "proxy-read-only-endpoint-needs-cluster"),
    ("replica-target", lambda p: mini(p, db={}, target_db=_replica_target), "proxy-target-not-replica"),
    ("pool-config-omitted", lambda p: mini(p, pool={"max_connections_percent": None,
                                                    "max_idle_connections_percent": None}), "proxy-pool-headroom"),
    ("debug-logging", lambda p: mini(p, proxy={"debug_logging": True}), "proxy-debug-logging-off"),
    # The proxy's role, its secret and the key
    ("role-trusts-lambda", lambda p: mini(p, role_trust="lambda.amazonaws.com"), "proxy-role-can-read-secret"),
    ("role-reads-other-secret", lambda p: mini(p, role_policy=lambda m: None, after=_customer_policy(
        allow("secretsmanager:GetSecretValue", secret_pattern(f"{p}/other")),
        allow("kms:Decrypt", "*", Condition=VIA_SECRETS_MANAGER))), "proxy-role-can-read-secret"),
    ("managed-secret-role-reads-named", lambda p: mini(p, **{**_managed_master_secret(p), "role_policy": lambda m: doc(
        allow("secretsmanager:GetSecretValue", secret_pattern(f"{p}/master")))}), "proxy-role-can-read-secret"),
    ("decrypt-via-alias-arn", lambda p: mini(p, role_policy=lambda m: doc(
        allow("secretsmanager:GetSecretValue", secret_pattern(f"{p}/master")),
        allow("kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/{p}-credentials"))), "proxy-role-can-decrypt-secret"),
    ("decrypt-missing", lambda p: mini(p, role_policy=lambda m: doc(
        allow("secretsmanager:GetSecretValue", secret_pattern(f"{p}/master")))), "proxy-role-can-decrypt-secret"),
    ("key-policy-without-root-or-role", lambda p: mini(p, key={"policy": doc(_KEY_ADMINS)}),
     "proxy-role-can-decrypt-secret"),
    ("managed-secret-customer-key-no-root", lambda p: _managed_secret_under_locked_key(p), "proxy-role-can-decrypt-secret"),
    ("end-to-end-iam-db-iam-off", lambda p: mini(p, proxy={"default_auth_scheme": "IAM_AUTH"}, auths=lambda m: None,
                                                 db={"iam_database_authentication_enabled": None}),
     "proxy-iam-auth-requires-db-iam-auth"),
    # Least privilege
    ("connect-any-proxy-user", lambda p: mini(p, after=_user_policy(
        allow("rds-db:connect", f"arn:aws:rds-db:{REGION}:{ACCOUNT}:dbuser:prx-*/*"))), "iam-db-connect-least-privilege"),
    ("connect-everything", lambda p: mini(p, after=_app(inline_policies=[{"name": "db", "policy": doc(
        allow("rds-db:*", "*"))}])), "iam-db-connect-least-privilege"),
    ("secrets-read-write-attached", lambda p: mini(p, after=lambda m: aws.iam.RolePolicyAttachment(
        f"{p}-sm-rw", role=m.role.name, policy_arn="arn:aws:iam::aws:policy/SecretsManagerReadWrite")),
     "iam-secrets-least-privilege"),
    ("secrets-every-arn", lambda p: mini(p, after=_customer_policy(
        allow("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:*:*:secret:*"))), "iam-secrets-least-privilege"),
    ("kms-star", lambda p: mini(p, role_policy=lambda m: doc(
        allow("secretsmanager:GetSecretValue", secret_pattern(f"{p}/master")), allow("kms:*", "*"))),
     "iam-kms-least-privilege"),
    ("connect-proxy-name", lambda p: mini(p, after=_customer_policy(
        allow("rds-db:connect", f"arn:aws:rds-db:{REGION}:{ACCOUNT}:dbuser:{p}-proxy/postgres"))),
     "iam-db-connect-resource"),
    ("connect-proxy-arn", lambda p: mini(p, after=_customer_policy(
        allow("rds-db:connect", f"arn:aws:rds:{REGION}:{ACCOUNT}:db-proxy:prx-0123456789abcdef01234567"))),
     "iam-db-connect-resource"),
    ("connect-wrong-user-managed-secret", lambda p: mini(p, **_managed_master_secret(p), after=_customer_policy(
        allow("rds-db:connect", f"{_PROXY_DB_USER}/app_user"))), "iam-db-connect-resource"),
    ("key-policy-resource-public", lambda p: mini(p, key={}, after=_key_policy_resource(
        _ROOT, {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"})),
     "key-and-secret-policies-not-public"),
    ("secret-policy-public", lambda p: mini(p, after=_secret_policy(
        {"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"})),
     "key-and-secret-policies-not-public"),
    # Master passwords and user names
    ("random-password-default-specials", lambda p: mini(p, after=_generated_password(length=32)),
     "rds-password-characters"),
    ("random-password-too-short", lambda p: mini(p, after=_generated_password(length=6, special=False)),
     "rds-password-characters"),
    ("literal-password-with-space", lambda p: mini(p, db={"password": "correct horse battery"}),
     "rds-password-characters"),
    ("master-username-reserved", lambda p: mini(p, db={"username": "RdsAdmin"}), "rds-master-username"),
]


def _managed_secret_under_locked_key(p: str) -> Mini:
    """The RDS-managed master secret under a customer key whose policy lets only key administrators use it."""
    kwargs = _managed_master_secret(p)
    locked = aws.kms.Key(f"{p}-secret-key", description=f"{p} master secret", policy=doc(_KEY_ADMINS))
    kwargs["db"] = {**kwargs["db"], "master_user_secret_kms_key_id": locked.arn}
    return mini(p, **kwargs)


def _several_auths(m: Mini) -> list[Any]:
    reader = aws.secretsmanager.Secret(f"{m.prefix}-reader-secret", name=f"{m.prefix}/reader", kms_key_id=m.key.arn)
    return [
        aws.rds.ProxyAuthArgs(auth_scheme="SECRETS", iam_auth="REQUIRED", secret_arn=m.secret.arn,
                              client_password_auth_type="POSTGRES_SCRAM_SHA_256", description="application"),
        aws.rds.ProxyAuthArgs(auth_scheme="SECRETS", iam_auth="DISABLED", secret_arn=reader.arn,
                              client_password_auth_type="POSTGRES_MD5", description="legacy reporting tool"),
    ]


def _key_policy_naming_the_role(m: Mini) -> None:
    """A key policy (as its own resource) with administrators and the proxy's role by name, no account root."""
    aws.kms.KeyPolicy(f"{m.prefix}-key-policy", key_id=m.key.id, policy=doc(
        _KEY_ADMINS,
        {"Sid": "ProxyDecrypts", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/{m.prefix}-proxy-role"},
         "Action": "kms:Decrypt", "Resource": "*", "Condition": VIA_SECRETS_MANAGER},
    ))


#: (case id, a legitimate design declared under its prefix): no mandatory finding at all.
CONTROLS: list[tuple[str, Callable[[str], Any]]] = [
    ("clean", lambda p: mini(p)),
    ("rds-managed-master-secret", lambda p: mini(p, **_managed_master_secret(p))),
    ("rds-managed-secret-policy-from-output", lambda p: mini(p, **{
        **_managed_master_secret(p),
        "role_policy": lambda m: m.db.master_user_secrets.apply(lambda secrets: doc(
            allow("secretsmanager:GetSecretValue", secrets[0]["secret_arn"]),
            allow("kms:Decrypt", "*", Condition=VIA_SECRETS_MANAGER))),
    })),
    ("several-auth-entries", lambda p: mini(p, auths=_several_auths, role_policy=lambda m: doc(
        allow("secretsmanager:GetSecretValue", [secret_pattern(f"{p}/master"), secret_pattern(f"{p}/reader")]),
        allow("kms:Decrypt", "*", Condition=VIA_SECRETS_MANAGER)))),
    ("iam-clients-password-to-database", lambda p: mini(
        p, db={"iam_database_authentication_enabled": False},
        after=_customer_policy(allow("rds-db:connect", f"{_PROXY_DB_USER}/postgres")))),
    ("aws-managed-secrets-key", lambda p: mini(p, secret={"kms_key_id": None}, role_policy=lambda m: doc(
        allow("secretsmanager:GetSecretValue", secret_pattern(f"{p}/master"))))),
    ("key-policy-names-the-role", lambda p: mini(p, key={}, after=_key_policy_naming_the_role, role_policy=lambda m: doc(
        allow("secretsmanager:GetSecretValue", secret_pattern(f"{p}/master"))))),
    ("decrypt-named-key-from-output", lambda p: mini(p, role_policy=lambda m: pulumi.Output.json_dumps({
        "Version": "2012-10-17", "Statement": [
            allow("secretsmanager:GetSecretValue", m.secret.arn), allow("kms:Decrypt", m.key.arn)]}))),
    ("end-to-end-iam", lambda p: mini(p, proxy={"default_auth_scheme": "IAM_AUTH"}, auths=lambda m: None,
                                      role_policy=lambda m: doc(allow("rds-db:connect", f"{_PROXY_DB_USER}/app_user")))),
    ("key-policy-with-caller-account", lambda p: mini(p, key={"policy": doc(_ROOT, {
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*",
        "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT, **VIA_SECRETS_MANAGER["StringEquals"]}}})})),
    ("reader-endpoint-read-write-two-azs", lambda p: mini(p, after=_endpoint("READ_WRITE"))),
    ("random-password-safe-specials", lambda p: mini(p, after=_generated_password(length=40, override_special=SAFE_SPECIALS,
                                                                                  min_special=2))),
    ("pool-idle-default-half", lambda p: mini(p, pool={"max_connections_percent": 60, "max_idle_connections_percent": None,
                                                       "connection_borrow_timeout": 300})),
]


def _program(cases: list[tuple[str, Callable[[str], Any]]]) -> Callable[[], None]:
    def program() -> None:
        _declare_shared()
        for case_id, setup in cases:
            setup(case_id)

    return program


#: Defects judged against the whole stack rather than one resource run in a program of their own: the
#: proxies' users are known only when every proxy's are.
ISOLATED = ("connect-wrong-user-managed-secret",)
DEFECT_PROGRAMS = [
    _program([(case_id, setup) for case_id, setup, _ in DEFECTS if case_id not in ISOLATED]),
    *(_program([(case_id, setup) for case_id, setup, _ in DEFECTS if case_id == isolated]) for isolated in ISOLATED),
]
CONTROL_PROGRAM = _program(CONTROLS)


def _case_of(resource_name: str, case_ids: list[str]) -> str | None:
    """The case whose prefix names the resource (the longest, since one id may prefix another)."""
    matches = [c for c in case_ids if resource_name == c or resource_name.startswith(f"{c}-")]
    return max(matches, key=len) if matches else None


def _mandatory_by_case(result: GateResult, case_ids: list[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for v in result.violations:
        if v.level != "mandatory":
            continue
        case = _case_of(v.resource_name or "", case_ids)
        found.setdefault(case or "<stack>", set()).add(v.policy)
    return found


@pytest.mark.parametrize("shape", SHAPES)
def test_every_defect_raises_its_mandatory_finding(shape):
    ids = [c[0] for c in DEFECTS]
    found: dict[str, set[str]] = {}
    for program in DEFECT_PROGRAMS:
        for case, policies in _mandatory_by_case(check(program, shape=shape), ids).items():
            found.setdefault(case, set()).update(policies)
    missed = [(case_id, policy, sorted(found.get(case_id, set()))) for case_id, _, policy in DEFECTS
              if policy not in found.get(case_id, set())]
    assert not missed, f"defects not caught in the {shape} shape (case, expected, found): {missed}"


@pytest.mark.parametrize("shape", SHAPES)
def test_no_control_has_a_mandatory_finding(shape):
    result = check(CONTROL_PROGRAM, shape=shape)
    mandatory = [f"{v.resource_name}: {v.policy}: {v.message}" for v in result.violations if v.level == "mandatory"]
    assert not mandatory, "\n".join(mandatory)


def test_corpus_covers_every_policy_of_the_area():
    """At least one defect per policy of proxy.py, credentials.py, iam.py, keys.py and passwords.py (advisory
    policies cannot fail a deploy and have no defect here)."""
    from fast import module_policies
    from pulumi_policy import EnforcementLevel

    from policies.rules import credentials, iam, keys, passwords, proxy

    area = {name for module in (proxy, credentials, iam, keys, passwords)
            for name, policy in module_policies(module).items() if policy.enforcement_level != EnforcementLevel.ADVISORY}
    assert area <= {policy for _, _, policy in DEFECTS}, sorted(area - {policy for _, _, policy in DEFECTS})


def test_case_ids_are_unique_and_do_not_collide():
    ids = [c[0] for c in DEFECTS] + [c[0] for c in CONTROLS]
    assert len(ids) == len(set(ids))
