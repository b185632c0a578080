"""Least privilege in identity policies: database logins, secrets and keys granted on named resources.

Judged in every identity-based policy a stack declares (``iam.Policy``, ``RolePolicy``,
``UserPolicy``, ``GroupPolicy``, a role's ``inlinePolicies``) and in the AWS managed
policies it attaches.  ``rds-db:connect`` resources must also be ones a login can match:
``arn:aws:rds-db:REGION:ACCOUNT:dbuser:<prx-/db-/cluster- resource id>/<user>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import ReportViolation, Severity

from .iam_documents import (
    IAM_ROLE_TYPE,
    IDENTITY_POLICY_SOURCES,
    Statement,
    has_wildcard,
    parse_db_user,
    resource_is_everything,
    statements,
)
from .policy_factory import Config, Props, resource_policy, stack_policy
from .property_values import as_list, is_unknown
from .resource_types import INSTANCE, PROXY, SECRET, label
from .stack_index import Res, StackIndex

IAM_POLICY_TYPES = tuple(t for t, _ in IDENTITY_POLICY_SOURCES)
ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
)

#: AWS managed policies that grant a concern on every resource: policy name -> concerns.
_BROAD_MANAGED_POLICIES: dict[str, frozenset[str]] = {
    "SecretsManagerReadWrite": frozenset({"secrets"}),
    "AdministratorAccess": frozenset({"secrets", "keys", "db-connect"}),
}
_DB_CONNECT = "rds-db:connect"
_RESOURCE_ID_PREFIXES = ("prx-", "db-", "cluster-")


def _documents(type_: str, props: Props) -> Iterator[Any]:
    if type_ == IAM_ROLE_TYPE:
        for entry in as_list(props.get("inlinePolicies")):
            if isinstance(entry, dict):
                yield entry.get("policy")
        return
    yield props.get("policy")


def _allow_statements(type_: str, props: Props) -> Iterator[Statement]:
    for doc in _documents(type_, props):
        for st in statements(doc):
            if st.allows:
                yield st


def _managed_arns(type_: str, props: Props) -> list[str]:
    if type_ == IAM_ROLE_TYPE:
        return [a for a in as_list(props.get("managedPolicyArns")) if isinstance(a, str)]
    arn = props.get("policyArn")
    return [arn] if isinstance(arn, str) else []


def _broad_managed(type_: str, props: Props, concern: str) -> list[str]:
    out = []
    for arn in _managed_arns(type_, props):
        account, _, name = arn.rpartition(":policy/")
        if account.endswith(":iam::aws") and concern in _BROAD_MANAGED_POLICIES.get(name, frozenset()):
            out.append(name)
    return out


def _resources_text(resources: tuple[Any, ...]) -> str:
    return ", ".join(str(r) for r in resources) if resources else "every resource (NotResource)"


# --- iam-db-connect-least-privilege ---------------------------------------------------------------


def _broad_db_user(resource: Any) -> bool:
    if not isinstance(resource, str):
        return False
    if resource == "*":
        return True
    parsed = parse_db_user(resource)
    if parsed is None:
        # arn:aws:rds-db:us-east-1:123456789012:* and the like
        return resource.split(":")[2:3] == ["rds-db"] and has_wildcard(resource.split(":", 5)[-1])
    return has_wildcard(parsed.resource_id) or has_wildcard(parsed.user)


def _check_db_connect_scope(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    for st in _allow_statements(type_, props):
        if not st.grants_action(_DB_CONNECT) or st.condition:
            continue
        broad = [r for r in st.resources if _broad_db_user(r)]
        if broad or st.not_resources:
            report(
                f"{label(type_, name)} allows rds-db:connect on {_resources_text(tuple(broad))}: every principal with "
                "this policy can sign in with an IAM token as any database user (the master user included) on any "
                "proxy or instance of the account. Name the resource: "
                "arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-<proxy resource id>/<the user the clients use>.",
                None,
            )
            return
    for managed in _broad_managed(type_, props, "db-connect"):
        report(
            f"{label(type_, name)} attaches the AWS managed policy {managed}, which allows rds-db:connect as any "
            "database user on every database of the account. Attach a policy that names the proxy's dbuser resource.",
            None,
        )


# --- iam-secrets-least-privilege --------------------------------------------------------------------


def _check_secrets_scope(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    for st in _allow_statements(type_, props):
        if not st.grants_action("secretsmanager:GetSecretValue") or st.condition:
            continue
        broad = [r for r in st.resources if resource_is_everything(r, "secretsmanager", "secret")]
        if broad or st.not_resources:
            report(
                f"{label(type_, name)} allows secretsmanager:GetSecretValue on {_resources_text(tuple(broad))}: whoever "
                "holds it reads every secret of the account, including the database master password. Name the "
                "secrets it needs (the proxy's auth secret ARN).",
                None,
            )
            return
    for managed in _broad_managed(type_, props, "secrets"):
        report(
            f"{label(type_, name)} attaches the AWS managed policy {managed}, which reads and changes every secret "
            "of the account, including the database master password. Attach a policy allowing "
            "secretsmanager:GetSecretValue on the secrets the role needs.",
            None,
        )


# --- iam-kms-least-privilege --------------------------------------------------------------------------


def _check_kms_scope(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    for st in _allow_statements(type_, props):
        broad = [r for r in st.resources if resource_is_everything(r, "kms", "key")]
        if not broad and not st.not_resources:
            continue
        if st.grants_all_of("kms"):
            what = "kms:* (every KMS action, key deletion and key policy changes included)"
        elif st.grants_action("kms:Decrypt") and not st.condition:
            what = "kms:Decrypt without a condition such as kms:ViaService"
        else:
            continue
        report(
            f"{label(type_, name)} allows {what} on {_resources_text(tuple(broad))}: every key of the account whose "
            "key policy defers to IAM (the default) is opened, so the secrets and snapshots they protect are too. "
            "Name the key ARNs, and for Secrets Manager add the condition kms:ViaService = "
            "secretsmanager.REGION.amazonaws.com.",
            None,
        )
        return
    for managed in _broad_managed(type_, props, "keys"):
        report(
            f"{label(type_, name)} attaches the AWS managed policy {managed}, which allows every KMS action on every "
            "key of the account. Attach a policy that names the keys the role uses.",
            None,
        )


# --- iam-db-connect-resource ----------------------------------------------------------------------------


def _proxy_users(index: StackIndex, proxy: Res) -> set[str] | None:
    """Database users a proxy signs in as (its auths' users), None when one of them cannot be determined."""
    if proxy.props.get("defaultAuthScheme") == "IAM_AUTH":
        return None  # end-to-end IAM: any database user granted rds_iam
    users: set[str] = set()
    auths = proxy.props.get("auths")
    if is_unknown(auths):
        return None
    for auth in as_list(auths):
        if not isinstance(auth, dict):
            continue
        username = auth.get("username")
        if isinstance(username, str) and username:
            users.add(username)
            continue
        user = _secret_user(index, proxy, auth.get("secretArn"))
        if user is None:
            return None
        users.add(user)
    return users or None


def _secret_user(index: StackIndex, proxy: Res, secret_arn: Any) -> str | None:
    """The user of an auth secret: the master user of an instance whose RDS-managed secret it is."""
    instances = index.referenced(proxy, "auths", INSTANCE)
    secrets = index.referenced(proxy, "auths", SECRET)
    if len(instances) == 1 and not secrets:
        username = instances[0].props.get("username")
        return username if isinstance(username, str) else None
    if isinstance(secret_arn, str):
        for inst in index.of_type(INSTANCE):
            for managed in as_list(inst.props.get("masterUserSecrets")):
                if isinstance(managed, dict) and managed.get("secretArn") == secret_arn:
                    username = inst.props.get("username")
                    return username if isinstance(username, str) else None
    return None


def _connect_statements(index: StackIndex) -> Iterator[tuple[Res, str]]:
    for type_ in (*IAM_POLICY_TYPES, IAM_ROLE_TYPE):
        for res in index.of_type(type_):
            for st in _allow_statements(type_, res.props):
                if st.not_actions or not st.grants_action(_DB_CONNECT):
                    continue
                for resource in st.resources:
                    if isinstance(resource, str) and resource != "*":
                        yield res, resource


def _check_db_connect_resource(index: StackIndex, config: Config, report: ReportViolation) -> None:
    proxies = index.of_type(PROXY)
    user_sets = [_proxy_users(index, p) for p in proxies]
    known_users: set[str] | None = None
    if proxies and all(u is not None for u in user_sets):
        known_users = set().union(*[u for u in user_sets if u is not None])
    for res, resource in _connect_statements(index):
        service = resource.split(":")[2] if resource.count(":") >= 2 else ""
        if service == "rds":
            report(
                f"{label(res.type, res.name)} allows rds-db:connect on {resource}, an RDS resource ARN. IAM "
                "database logins are checked against arn:aws:rds-db:REGION:ACCOUNT:dbuser:<resource id>/<user>, so "
                "this grant never matches and every IAM login fails; for the proxy use its prx- resource id (the "
                "last part of its ARN) and the database user.",
                res.urn,
            )
            continue
        parsed = parse_db_user(resource)
        if parsed is None or has_wildcard(parsed.resource_id) or has_wildcard(parsed.user):
            continue  # not an rds-db ARN, or a wildcard (iam-db-connect-least-privilege)
        if not parsed.user:
            report(
                f'{label(res.type, res.name)} allows rds-db:connect on {resource}, which names no database user '
                "(dbuser:<resource id>/<user>): no login ever matches it, so every IAM login fails. Append /<user>.",
                res.urn,
            )
            continue
        if not parsed.resource_id.startswith(_RESOURCE_ID_PREFIXES):
            report(
                f'{label(res.type, res.name)} allows rds-db:connect on dbuser "{parsed.resource_id}", which is not a '
                "resource id: logins are matched against the proxy's prx- id or the instance's db- id (DbiResourceId), "
                "never its name or identifier, so every IAM login fails. Use the prx- id from the proxy's ARN.",
                res.urn,
            )
            continue
        if parsed.resource_id.startswith("prx-") and known_users is not None and parsed.user not in known_users:
            report(
                f'{label(res.type, res.name)} allows rds-db:connect through a proxy as "{parsed.user}", but the '
                f"stack's proxies sign in only as {sorted(known_users)} (their auth secrets' users). A token for "
                "another user is refused by the proxy; name the user of the proxy's secret.",
                res.urn,
            )


IAM_DB_CONNECT_LEAST_PRIVILEGE = resource_policy(
    "iam-db-connect-least-privilege",
    "IAM policies grant rds-db:connect on named database users of named proxies or instances, never on wildcards.",
    (*IAM_POLICY_TYPES, IAM_ROLE_TYPE, *ATTACHMENT_TYPES),
    _check_db_connect_scope,
    severity=Severity.HIGH,
    remediation="Resource: arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-<id>/<user>.",
)


IAM_SECRETS_LEAST_PRIVILEGE = resource_policy(
    "iam-secrets-least-privilege",
    "IAM policies grant secretsmanager:GetSecretValue on named secrets, never on every secret.",
    (*IAM_POLICY_TYPES, IAM_ROLE_TYPE, *ATTACHMENT_TYPES),
    _check_secrets_scope,
    severity=Severity.HIGH,
    remediation="Name the secret ARNs in Resource.",
)


IAM_KMS_LEAST_PRIVILEGE = resource_policy(
    "iam-kms-least-privilege",
    "IAM policies do not grant kms:* (or an unconditioned kms:Decrypt) on every key.",
    (*IAM_POLICY_TYPES, IAM_ROLE_TYPE, *ATTACHMENT_TYPES),
    _check_kms_scope,
    severity=Severity.HIGH,
    remediation="Name the key ARNs; add kms:ViaService for Secrets Manager.",
)


IAM_DB_CONNECT_RESOURCE = stack_policy(
    "iam-db-connect-resource",
    "rds-db:connect resources name a dbuser of a proxy (prx-), instance (db-) or cluster resource id and a user "
    "the proxy signs in as.",
    (*IAM_POLICY_TYPES, IAM_ROLE_TYPE),
    _check_db_connect_resource,
    severity=Severity.HIGH,
    remediation="arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-<id from the proxy ARN>/<the secret's user>.",
)
