"""Credentials: master user names RDS accepts, the proxy's IAM role and secret, IAM authentication."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from pulumi_policy import ReportViolation, Severity

from .config_schemas import string_list_schema
from .policy_factory import Config, Props, resource_policy, stack_policy
from .property_values import as_bool, as_list, is_unknown, policy_json
from .rds_lookups import engine_of, is_replica, proxy_links
from .resource_types import (
    IAM_POLICY,
    IAM_POLICY_ATTACHMENT,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    IAM_ROLE_POLICY_ATTACHMENT,
    INSTANCE,
    POSTGRES_ENGINES,
    PROXY,
    SECRET,
    label,
)
from .stack_index import Res, StackIndex

#: RDS for PostgreSQL: "MasterUsername X cannot be used as it is a reserved word used by the engine".
RESERVED_POSTGRES_USERNAMES = ("admin", "rdsadmin", "rdsrepladmin", "rds_superuser", "rds_replication", "public")
_PG_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")

#: AWS managed policies that include secretsmanager:GetSecretValue on every secret.
_MANAGED_SECRET_READERS = ("arn:aws:iam::aws:policy/SecretsManagerReadWrite",)


# --- rds-master-username -------------------------------------------------------------------------------


def _check_username(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    if is_replica(props) or engine_of(props) not in POSTGRES_ENGINES:
        return
    username = props.get("username")
    if not isinstance(username, str) or not username:
        return
    reserved = {u.lower() for u in RESERVED_POSTGRES_USERNAMES} | {u.lower() for u in config.get("extraReservedUsernames") or []}
    lowered = username.lower()
    problem = None
    if lowered in reserved:
        problem = "is a reserved word of the engine"
    elif lowered.startswith("pg_"):
        problem = "starts with pg_, a prefix PostgreSQL reserves for system roles"
    elif not _PG_IDENTIFIER.match(username):
        problem = "is not 1-63 letters, digits or underscores starting with a letter"
    if problem:
        report(
            f'{label(type_, name)} has master username "{username}", which {problem}: RDS for PostgreSQL rejects it '
            'and `pulumi up` fails when creating the instance. Use another name, e.g. "postgres" or "app_admin".',
            None,
        )


# --- proxy-role-can-read-secret ----------------------------------------------------------------------


@dataclass
class _Grants:
    documents: list[tuple[dict[str, Any], Res]]
    undetermined: bool
    any_policy: bool


def _role_for(index: StackIndex, proxy: Res) -> Res | None:
    return index.resolve(proxy, "roleArn", IAM_ROLE, proxy.props.get("roleArn"), ("arn",))


def _attached_to(index: StackIndex, res: Res, prop: str, role: Res) -> bool:
    if role.urn in res.deps(prop):
        return True
    value = res.props.get(prop)
    names = {role.props.get("name"), role.props.get("arn")} - {None}
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, str) and v in names for v in values)


def _grants(index: StackIndex, role: Res) -> _Grants:
    docs: list[tuple[dict[str, Any], Res]] = []
    undetermined = False
    any_policy = False

    def add(value: Any, owner: Res) -> None:
        nonlocal undetermined, any_policy
        any_policy = True
        doc = policy_json(value)
        if doc is None:
            undetermined = True
        else:
            docs.append((doc, owner))

    inline = role.props.get("inlinePolicies")
    # Unknown with no property dependency: the provider computes it (a preview's planned outputs), the
    # program did not set it, so the role has no inline policy from this program.
    if is_unknown(inline) and role.deps("inlinePolicies"):
        undetermined = True
    for entry in as_list(inline):
        if isinstance(entry, dict) and entry.get("policy") is not None:
            add(entry.get("policy"), role)
    for rp in index.of_type(IAM_ROLE_POLICY):
        if _attached_to(index, rp, "role", role):
            add(rp.props.get("policy"), rp)
    attachments = [a for a in index.of_type(IAM_ROLE_POLICY_ATTACHMENT) if _attached_to(index, a, "role", role)]
    attachments += [a for a in index.of_type(IAM_POLICY_ATTACHMENT) if _attached_to(index, a, "roles", role)]
    managed = role.props.get("managedPolicyArns")
    managed_arns = [m for m in as_list(managed) if isinstance(m, str)]
    for attachment in attachments:
        policy = index.resolve(attachment, "policyArn", IAM_POLICY, attachment.props.get("policyArn"), ("arn",))
        if policy is not None:
            add(policy.props.get("policy"), policy)
            continue
        arn = attachment.props.get("policyArn")
        if isinstance(arn, str):
            managed_arns.append(arn)
        else:
            any_policy = True
            undetermined = True
    for arn in managed_arns:
        any_policy = True
        if arn in _MANAGED_SECRET_READERS:
            docs.append(({"Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}, role))
        else:
            undetermined = True  # a customer-managed policy outside the stack: cannot be read here
    return _Grants(docs, undetermined, any_policy)


def _matches(patterns: Any, value: str) -> bool:
    items = patterns if isinstance(patterns, list) else [patterns]
    return any(isinstance(p, str) and fnmatch.fnmatchcase(value.lower(), p.lower()) for p in items)


def _allows(grants: _Grants, action: str, resource_ok: Any) -> bool:
    for doc, owner in grants.documents:
        statements = doc.get("Statement")
        for st in statements if isinstance(statements, list) else [statements]:
            if not isinstance(st, dict) or st.get("Effect") != "Allow":
                continue
            if not _matches(st.get("Action"), action):
                continue
            resources = st.get("Resource")
            items = resources if isinstance(resources, list) else [resources]
            if any(isinstance(r, str) and resource_ok(r, owner) for r in items):
                return True
    return False


def _trusts_rds(role: Res) -> bool | None:
    doc = policy_json(role.props.get("assumeRolePolicy"))
    if doc is None:
        return None
    statements = doc.get("Statement")
    for st in statements if isinstance(statements, list) else [statements]:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else None
        if _matches(services, "rds.amazonaws.com") or principal == "*":
            return True
    return False


def _proxy_secrets(index: StackIndex, proxy: Res) -> list[tuple[Any, Res | None]]:
    """(secretArn value, secret resource of the stack or None) for each ``auth`` block."""
    out = []
    secrets = index.referenced(proxy, "auths", SECRET)
    auths = [a for a in as_list(proxy.props.get("auths")) if isinstance(a, dict)]
    for auth in auths:
        arn = auth.get("secretArn")
        if arn is None:
            continue
        match = secrets[0] if len(secrets) == 1 else None
        out.append((arn, match))
    return out


def _check_proxy_role(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for proxy in index.of_type(PROXY):
        role_arn = proxy.props.get("roleArn")
        if role_arn is None or role_arn == "":
            report(
                f"{label(proxy.type, proxy.name)} has no roleArn. RDS Proxy reads the database credentials from "
                "Secrets Manager with that role, so creation fails (or every connection fails); give it an IAM role "
                "trusted by rds.amazonaws.com with secretsmanager:GetSecretValue on the auth secret.",
                proxy.urn,
            )
            continue
        role = _role_for(index, proxy)
        if role is None:
            continue  # a role managed outside the stack: nothing to read
        trusted = _trusts_rds(role)
        if trusted is False:
            report(
                f"{label(role.type, role.name)}, the role of {label(proxy.type, proxy.name)}, does not trust "
                "rds.amazonaws.com, so the proxy cannot assume it to read its secret; add rds.amazonaws.com as "
                "a Service principal of assumeRolePolicy.",
                role.urn,
            )
        grants = _grants(index, role)
        for arn_value, secret in _proxy_secrets(index, proxy):

            def covers(resource: str, owner: Res, arn_value: Any = arn_value, secret: Res | None = secret) -> bool:
                if resource == "*":
                    return True
                if isinstance(arn_value, str) and not is_unknown(arn_value) and _matches(resource, arn_value):
                    return True
                known_arn = secret.props.get("arn") if secret is not None else None
                if isinstance(known_arn, str) and _matches(resource, known_arn):
                    return True
                # Unknown ARN during preview: the document was built from the secret itself.
                return (
                    secret is not None
                    and resource.startswith("arn:")
                    and ":secretsmanager:" in resource
                    and any(secret.urn in owner.deps(p) for p in ("policy", "inlinePolicies"))
                )

            if _allows(grants, "secretsmanager:GetSecretValue", covers):
                continue
            if grants.undetermined:
                continue  # some of the role's permissions are unknown until deploy: do not guess
            what = secret.label if secret is not None else (arn_value if isinstance(arn_value, str) else "its auth secret")
            report(
                f"{label(role.type, role.name)}, the role of {label(proxy.type, proxy.name)}, has no "
                f"secretsmanager:GetSecretValue on {what}"
                f"{'' if grants.any_policy else ' (the role has no policies at all)'}. The proxy cannot read the "
                "database credentials and refuses every client connection; attach a policy allowing "
                "secretsmanager:GetSecretValue on the secret (and kms:Decrypt on its key if it uses a customer key).",
                role.urn,
            )


# --- proxy-iam-auth-requires-db-iam-auth ----------------------------------------------------------------


def _check_iam_auth(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for link in proxy_links(index):
        if link.proxy is None or link.instance is None:
            continue
        auths = [a for a in as_list(link.proxy.props.get("auths")) if isinstance(a, dict)]
        end_to_end = link.proxy.props.get("defaultAuthScheme") == "IAM_AUTH"
        if not end_to_end and not any(a.get("iamAuth") == "REQUIRED" for a in auths):
            continue
        enabled = link.instance.props.get("iamDatabaseAuthenticationEnabled")
        if is_unknown(enabled) or as_bool(enabled):
            continue
        why = (
            "With defaultAuthScheme IAM_AUTH the proxy itself signs in to the database with IAM, so every "
            "connection fails"
            if end_to_end
            else "Clients then hold IAM identities the database does not accept, so the documented break-glass path "
            "(IAM tokens straight to the instance endpoint during a proxy incident) fails and two credential "
            "models must be kept in step"
        )
        report(
            f"{label(link.proxy.type, link.proxy.name)} requires IAM authentication but its target "
            f"{label(link.instance.type, link.instance.name)} has iamDatabaseAuthenticationEnabled "
            f"{'unset' if enabled is None else 'false'}. {why}; set iamDatabaseAuthenticationEnabled = true.",
            link.instance.urn,
        )


RDS_MASTER_USERNAME = resource_policy(
    "rds-master-username",
    "Master user names of RDS for PostgreSQL instances are names the engine accepts (not admin, rdsadmin, pg_*).",
    (INSTANCE,),
    _check_username,
    severity=Severity.HIGH,
    schema=string_list_schema("extraReservedUsernames", "More user names to refuse (organisation conventions)."),
    remediation='Use a master user name such as "postgres".',
)


PROXY_ROLE_CAN_READ_SECRET = stack_policy(
    "proxy-role-can-read-secret",
    "Every RDS Proxy has an IAM role, trusted by rds.amazonaws.com, that can read its auth secret.",
    (PROXY,),
    _check_proxy_role,
    severity=Severity.CRITICAL,
    remediation="Set roleArn to a role with secretsmanager:GetSecretValue on the auth secret.",
)


PROXY_IAM_AUTH_REQUIRES_DB_IAM_AUTH = stack_policy(
    "proxy-iam-auth-requires-db-iam-auth",
    "When an RDS Proxy requires IAM authentication, its target instance has IAM database authentication on.",
    (PROXY,),
    _check_iam_auth,
    severity=Severity.MEDIUM,
    remediation="Set iamDatabaseAuthenticationEnabled = true on the target instance.",
)
