"""Credentials: master user names RDS accepts, the proxy's IAM role and secret, IAM authentication."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import ReportViolation, Severity

from .config_schemas import string_list_schema
from .iam_documents import is_account_root, principal_values, statements
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
    KMS_KEY,
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
    if is_unknown(inline):  # computed from another resource (a provider-computed unknown is left out of props)
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


@dataclass(frozen=True)
class _AuthSecret:
    """One ``auths`` entry's secret: the ARN value, and the stack resource it comes from when known."""

    arn: Any
    #: A ``secretsmanager.Secret`` of the stack.
    secret: Res | None
    #: An instance whose RDS-managed master secret it is (``manageMasterUserPassword``).
    instance: Res | None


def _managed_secret_arns(instance: Res) -> list[str]:
    return [
        m["secretArn"]
        for m in as_list(instance.props.get("masterUserSecrets"))
        if isinstance(m, dict) and isinstance(m.get("secretArn"), str)
    ]


def _proxy_secrets(index: StackIndex, proxy: Res) -> list[_AuthSecret]:
    """The secret of each ``auths`` entry that names one."""
    out: list[_AuthSecret] = []
    secrets = index.referenced(proxy, "auths", SECRET)
    managed = [i for i in index.referenced(proxy, "auths", INSTANCE) if as_bool(i.props.get("manageMasterUserPassword"))]
    auths = [a for a in as_list(proxy.props.get("auths")) if isinstance(a, dict)]
    for auth in auths:
        arn = auth.get("secretArn")
        if arn is None:
            continue
        secret = next((s for s in secrets if isinstance(arn, str) and s.props.get("arn") == arn), None)
        instance = next((i for i in managed if isinstance(arn, str) and arn in _managed_secret_arns(i)), None)
        if secret is None and instance is None:
            # The ARN is unknown (a preview) or the engine sent the secret without its outputs: the one secret
            # (or instance) the auths were computed from, unless its own known ARN says otherwise.
            unmatched = [s for s in secrets if not isinstance(s.props.get("arn"), str)]
            unmatched_managed = [i for i in managed if not _managed_secret_arns(i)]
            if not isinstance(arn, str):
                unmatched, unmatched_managed = secrets, managed
            elif len(auths) > 1:
                unmatched, unmatched_managed = [], []  # a known ARN among several entries: only an equal ARN says
            if len(unmatched) == 1 and not unmatched_managed:
                secret = unmatched[0]
            elif len(unmatched_managed) == 1 and not unmatched:
                instance = unmatched_managed[0]
            elif not isinstance(arn, str) and (unmatched or unmatched_managed):
                # Several auth entries computed from several secrets: each of them must be readable.
                out.extend(_AuthSecret(arn, s, None) for s in unmatched)
                out.extend(_AuthSecret(arn, None, i) for i in unmatched_managed)
                continue
        if secret is None and instance is None and isinstance(arn, str):
            secret = next((s for s in index.of_type(SECRET) if s.props.get("arn") == arn), None)
            instance = next((i for i in index.of_type(INSTANCE) if arn in _managed_secret_arns(i)), None)
        out.append(_AuthSecret(arn, secret, instance))
    unique: dict[tuple[Any, ...], _AuthSecret] = {}
    for entry in out:
        if entry.secret is not None:
            key: tuple[Any, ...] = ("secret", entry.secret.urn)
        elif entry.instance is not None:
            key = ("instance", entry.instance.urn)
        else:
            key = ("arn", repr(entry.arn))
        unique.setdefault(key, entry)
    return list(unique.values())


def _covers_secret(auth: _AuthSecret) -> Callable[[str, Res], bool]:
    """Whether a policy statement's Resource (in the document of *owner*) covers the auth entry's secret."""

    def covers(resource: str, owner: Res) -> bool:
        if resource == "*":
            return True
        if isinstance(auth.arn, str) and _matches(resource, auth.arn):
            return True
        known = [auth.secret.props.get("arn")] if auth.secret is not None else []
        known += _managed_secret_arns(auth.instance) if auth.instance is not None else []
        if any(isinstance(k, str) and _matches(resource, k) for k in known):
            return True
        if auth.secret is not None and _matches_secret_name(resource, auth.secret.props.get("name")):
            return True
        if auth.instance is not None and _matches_secret_name(resource, _MANAGED_SECRET_NAME):
            return True
        # Unknown ARN during preview: the document was built from the secret (or the instance) itself.
        sources = [r.urn for r in (auth.secret, auth.instance) if r is not None]
        return (
            bool(sources)
            and resource.startswith("arn:")
            and ":secretsmanager:" in resource
            and any(urn in owner.deps(p) for urn in sources for p in ("policy", "inlinePolicies"))
        )

    return covers


#: What an RDS-managed master secret's name looks like ("rds!db-" and the instance's resource UUID).
_MANAGED_SECRET_NAME = "rds!db-00000000-0000-0000-0000-000000000000"


def _matches_secret_name(resource: str, name: Any) -> bool:
    """A Resource written against the secret's name: Secrets Manager ARNs end in ``secret:NAME-`` and six random
    characters, so ``...:secret:NAME-*`` (or ``NAME*``) covers the secret whatever its region and account."""
    if not isinstance(name, str) or not name:
        return False
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[2] != "secretsmanager":
        return False
    return fnmatch.fnmatchcase(f"secret:{name}-AbCdEf", parts[5])


def _can_read(grants: _Grants, auth: _AuthSecret) -> bool:
    return _allows(grants, "secretsmanager:GetSecretValue", _covers_secret(auth))


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
        for auth in _proxy_secrets(index, proxy):
            arn_value, secret, instance = auth.arn, auth.secret, auth.instance

            if _can_read(grants, auth):
                continue
            if grants.undetermined:
                continue  # some of the role's permissions are unknown until deploy: do not guess
            if secret is not None:
                what = secret.label
            elif instance is not None:
                what = f"the RDS-managed master secret of {instance.label}"
            else:
                what = arn_value if isinstance(arn_value, str) else "its auth secret"
            report(
                f"{label(role.type, role.name)}, the role of {label(proxy.type, proxy.name)}, has no "
                f"secretsmanager:GetSecretValue on {what}"
                f"{'' if grants.any_policy else ' (the role has no policies at all)'}. The proxy cannot read the "
                "database credentials and refuses every client connection; attach a policy allowing "
                "secretsmanager:GetSecretValue on the secret (and kms:Decrypt on its key if it uses a customer key).",
                role.urn,
            )


# --- proxy-role-can-decrypt-secret --------------------------------------------------------------------

KMS_ALIAS = "aws:kms/alias:Alias"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
#: Key references that mean the AWS managed key of Secrets Manager: its key policy lets every principal of
#: the account use it through Secrets Manager, so no grant is needed.
_AWS_MANAGED_SECRETS_KEY = "alias/aws/secretsmanager"


def _is_aws_managed_key(ref: Any) -> bool:
    return ref is None or ref == "" or (isinstance(ref, str) and ref.endswith(_AWS_MANAGED_SECRETS_KEY))


def _key_of(index: StackIndex, holder: Res, prop: str) -> tuple[bool, Res | None]:
    """(customer key?, the stack's key) for a key reference property; (True, None): a key outside the stack."""
    ref = holder.props.get(prop)
    if not is_unknown(ref) and _is_aws_managed_key(ref):
        return False, None
    key = index.resolve(holder, prop, KMS_KEY, ref, ("arn", "keyId", "id"))
    if key is not None:
        return True, key
    alias = index.resolve(holder, prop, KMS_ALIAS, ref, ("name", "arn"))
    if alias is not None:
        if alias.props.get("name") == _AWS_MANAGED_SECRETS_KEY:
            return False, None
        return True, index.resolve(alias, "targetKeyId", KMS_KEY, alias.props.get("targetKeyId"), ("keyId", "arn", "id"))
    return True, None


def _key_policy(index: StackIndex, key: Res) -> Any:
    """The effective key policy: a separate ``kms.KeyPolicy`` of the key, else the key's own (None: AWS's default)."""
    for kp in index.of_type(KMS_KEY_POLICY):
        known = {v for v in (key.props.get("keyId"), key.props.get("arn"), key.props.get("id")) if isinstance(v, str)}
        if key.urn in kp.deps("keyId") or (isinstance(kp.props.get("keyId"), str) and kp.props.get("keyId") in known):
            return kp.props.get("policy")
    return key.props.get("policy")


def _names_role(principal: Any, role: Res) -> bool:
    values = principal_values(principal, "AWS")
    arn, name = role.props.get("arn"), role.props.get("name")
    for value in values:
        if value == "*":
            return True
        if isinstance(value, str) and (value == arn or (isinstance(name, str) and value.endswith(f":role/{name}"))):
            return True
    return False


def _key_policy_access(policy: Any, role: Res) -> str | None:
    """ "role" when the key policy itself lets the role decrypt, "iam" when it defers to IAM policies (the account
    root), "none" when neither, None when the policy cannot be read yet."""
    if policy is None or policy == "":
        return "iam"  # AWS's default key policy: the account root, kms:*
    if is_unknown(policy) or policy_json(policy) is None:
        return None
    defers = False
    for st in statements(policy):
        if not st.allows or not st.grants_action("kms:Decrypt"):
            continue
        if _names_role(st.principal, role):
            return "role"
        if any(is_account_root(v) for v in principal_values(st.principal, "AWS")):
            defers = True
    return "iam" if defers else "none"


def _via_secrets_manager(condition: Any) -> bool:
    """False when a kms:ViaService condition names only other services than Secrets Manager."""
    if not isinstance(condition, dict):
        return True
    for operator_values in condition.values():
        if not isinstance(operator_values, dict):
            continue
        for key, values in operator_values.items():
            if key.lower() != "kms:viaservice":
                continue
            items = values if isinstance(values, list) else [values]
            if not any(isinstance(v, str) and fnmatch.fnmatchcase(v, "secretsmanager.*") for v in items):
                return False
    return True


def _iam_allows_decrypt(grants: _Grants, key: Res) -> bool:
    for doc, owner in grants.documents:
        for st in statements(doc):
            if not st.allows or not st.grants_action("kms:Decrypt") or not _via_secrets_manager(st.condition):
                continue
            for resource in st.resources:
                if not isinstance(resource, str):
                    continue
                known = [k for k in (key.props.get("arn"),) if isinstance(k, str)]
                if resource == "*" or any(_matches(resource, k) for k in known):
                    return True
                if ":alias/" in resource:
                    continue  # IAM never matches a key through an alias ARN in Resource (kms:ResourceAliases does)
                if resource.startswith("arn:") and ":kms:" in resource and key.urn in owner.deps("policy"):
                    return True  # built from the key's ARN, unknown during a preview
    return False


def _secret_keys(index: StackIndex, auth: _AuthSecret) -> tuple[bool, Res | None]:
    if auth.secret is not None:
        return _key_of(index, auth.secret, "kmsKeyId")
    if auth.instance is not None:
        return _key_of(index, auth.instance, "masterUserSecretKmsKeyId")
    return False, None


def _check_proxy_decrypt(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for proxy in index.of_type(PROXY):
        role = _role_for(index, proxy)
        if role is None:
            continue
        grants: _Grants | None = None
        for auth in _proxy_secrets(index, proxy):
            customer, key = _secret_keys(index, auth)
            if not customer or key is None:
                continue  # the AWS managed key, or a key outside the stack whose policy cannot be read
            access = _key_policy_access(_key_policy(index, key), role)
            what = auth.secret.label if auth.secret is not None else "the RDS-managed master secret"
            if access == "none":
                report(
                    f"{label(key.type, key.name)} encrypts {what} of {label(proxy.type, proxy.name)}, but its key "
                    f"policy neither allows the account root (which lets IAM policies grant use) nor "
                    f"{label(role.type, role.name)} kms:Decrypt. Secrets Manager cannot decrypt the secret for the "
                    "proxy and every connection fails; add the account-root statement or allow the role kms:Decrypt.",
                    key.urn,
                )
                continue
            if access != "iam":
                continue
            if grants is None:
                grants = _grants(index, role)
            if grants.undetermined or not _can_read(grants, auth) or _iam_allows_decrypt(grants, key):
                continue  # a role that cannot even read the secret: proxy-role-can-read-secret reports it
            report(
                f"{label(role.type, role.name)}, the role of {label(proxy.type, proxy.name)}, has no kms:Decrypt on "
                f"{label(key.type, key.name)}, the customer key of {what}. GetSecretValue then fails with "
                "AccessDenied and the proxy refuses every connection; allow kms:Decrypt on the key ARN with the "
                "condition kms:ViaService = secretsmanager.REGION.amazonaws.com.",
                role.urn,
            )


# --- proxy-iam-auth-requires-db-iam-auth ------------------------------------------------------------------


def _iam_auth_targets(index: StackIndex) -> Iterator[tuple[Res, Res, Any]]:
    """(proxy, target instance or cluster, its iamDatabaseAuthenticationEnabled) where the proxy signs in with IAM
    (defaultAuthScheme IAM_AUTH) and the target does not accept IAM tokens.  A proxy that only requires IAM from
    its clients (auths iamAuth REQUIRED) signs in with its secret's password: the target's flag does not matter."""
    for link in proxy_links(index):
        target = link.instance or link.cluster
        if link.proxy is None or target is None or link.proxy.props.get("defaultAuthScheme") != "IAM_AUTH":
            continue
        enabled = target.props.get("iamDatabaseAuthenticationEnabled")
        if is_unknown(enabled) or as_bool(enabled):
            continue
        yield link.proxy, target, enabled


def _check_iam_auth(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for proxy, target, enabled in _iam_auth_targets(index):
        report(
            f"{label(proxy.type, proxy.name)} has defaultAuthScheme IAM_AUTH: it signs in to "
            f"{label(target.type, target.name)} with IAM tokens, but iamDatabaseAuthenticationEnabled is "
            f"{'unset (false)' if enabled is None else 'false'}, so the database refuses the proxy and every "
            "connection fails. Set iamDatabaseAuthenticationEnabled = true on the target.",
            target.urn,
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


PROXY_ROLE_CAN_DECRYPT_SECRET = stack_policy(
    "proxy-role-can-decrypt-secret",
    "The proxy's role can decrypt its auth secret: the customer key's policy lets the account or the role use it, "
    "and the role has kms:Decrypt on it.",
    (PROXY,),
    _check_proxy_decrypt,
    severity=Severity.CRITICAL,
    remediation="Allow kms:Decrypt on the key (kms:ViaService secretsmanager) and keep the key policy's "
    "account-root statement.",
)


PROXY_IAM_AUTH_REQUIRES_DB_IAM_AUTH = stack_policy(
    "proxy-iam-auth-requires-db-iam-auth",
    "An RDS Proxy that signs in to its database with IAM (defaultAuthScheme IAM_AUTH) targets a database with "
    "IAM database authentication on.",
    (PROXY,),
    _check_iam_auth,
    severity=Severity.HIGH,
    remediation="Set iamDatabaseAuthenticationEnabled = true on the target.",
)
