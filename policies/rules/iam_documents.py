"""IAM and key policy documents: statements, action and resource matching, principals.

A document arrives as a JSON string or an object (``policy_json``); unknown during a
preview when it was built from computed ARNs.  Matching follows IAM's own rules:
actions are case-insensitive with ``*`` and ``?`` wildcards, resources are
case-sensitive with the same wildcards, ``NotAction`` / ``NotResource`` grant
everything they do not name.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .property_values import policy_json

#: Where identity-based policy documents live, per resource type: (type, property).
IDENTITY_POLICY_SOURCES: tuple[tuple[str, str], ...] = (
    ("aws:iam/policy:Policy", "policy"),
    ("aws:iam/rolePolicy:RolePolicy", "policy"),
    ("aws:iam/userPolicy:UserPolicy", "policy"),
    ("aws:iam/groupPolicy:GroupPolicy", "policy"),
)
IAM_ROLE_TYPE = "aws:iam/role:Role"


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[Any, ...]
    not_resources: tuple[Any, ...]
    principal: Any
    condition: Any

    @property
    def allows(self) -> bool:
        return self.effect == "Allow"

    def grants_action(self, action: str) -> bool:
        """True when this statement's Action (or NotAction) covers *action*."""
        if self.not_actions:
            return not any(_action_matches(p, action) for p in self.not_actions)
        return any(_action_matches(p, action) for p in self.actions)

    def grants_all_of(self, service: str) -> bool:
        """``service:*`` or ``*`` (every action of the service), not a list of some of them."""
        if self.not_actions:
            return not any(p.lower().startswith(f"{service}:") or p == "*" for p in self.not_actions)
        return any(p == "*" or p.lower() == f"{service}:*" for p in self.actions)


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(value)
    return (value,)


def _action_matches(pattern: Any, action: str) -> bool:
    return isinstance(pattern, str) and fnmatch.fnmatchcase(action.lower(), pattern.lower())


def statements(document: Any) -> Iterator[Statement]:
    """The statements of a policy document (property value); nothing when it is unknown or malformed."""
    doc = policy_json(document)
    if doc is None:
        return
    raw = doc.get("Statement")
    for st in _as_tuple(raw):
        if not isinstance(st, dict):
            continue
        yield Statement(
            effect=str(st.get("Effect", "")),
            actions=tuple(a for a in _as_tuple(st.get("Action")) if isinstance(a, str)),
            not_actions=tuple(a for a in _as_tuple(st.get("NotAction")) if isinstance(a, str)),
            resources=_as_tuple(st.get("Resource")),
            not_resources=_as_tuple(st.get("NotResource")),
            principal=st.get("Principal"),
            condition=st.get("Condition"),
        )


def resource_is_everything(resource: Any, service: str, resource_type: str) -> bool:
    """``*``, or an ARN of *service* whose account/region/resource parts are wildcards for every resource
    of *resource_type* (``arn:aws:secretsmanager:*:*:secret:*``)."""
    if not isinstance(resource, str):
        return False
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[2] not in (service, "*"):
        return False
    rest = parts[5]
    return rest in ("*", f"{resource_type}*", f"{resource_type}:*", f"{resource_type}/*")


# --- Principals ---------------------------------------------------------------------------------------

_ACCOUNT_ROOT = re.compile(r"^(arn:[a-z-]+:iam::)?(\d{12})(:root)?$")


def principal_values(principal: Any, kind: str) -> list[Any]:
    """The ``AWS`` / ``Service`` / ... entries of a Principal element (``"*"`` counts as every kind)."""
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        return list(_as_tuple(principal.get(kind)))
    return []


def is_public_principal(principal: Any) -> bool:
    return principal == "*" or "*" in principal_values(principal, "AWS")


def is_account_root(value: Any) -> bool:
    """``123456789012`` or ``arn:aws:iam::123456789012:root``: the account, which lets IAM policies decide."""
    return isinstance(value, str) and bool(_ACCOUNT_ROOT.match(value)) and (value.isdigit() or value.endswith(":root"))


# --- rds-db:connect resources ----------------------------------------------------------------------

_DB_CONNECT = re.compile(r"^arn:(?P<partition>[^:]*):rds-db:(?P<region>[^:]*):(?P<account>[^:]*):dbuser:(?P<rest>.*)$")


@dataclass(frozen=True)
class DbUserResource:
    """An ``rds-db:connect`` resource ``arn:aws:rds-db:REGION:ACCOUNT:dbuser:RESOURCE-ID/USER``."""

    resource_id: str
    user: str


def parse_db_user(resource: str) -> DbUserResource | None:
    match = _DB_CONNECT.match(resource)
    if not match:
        return None
    rest = match["rest"]
    resource_id, sep, user = rest.partition("/")
    if not sep:
        return DbUserResource(resource_id, "")
    return DbUserResource(resource_id, user)


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text
