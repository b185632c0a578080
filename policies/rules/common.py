"""Helpers shared by every rule module: type tokens, unknown-safe property access, the stack index.

Property values arrive from the engine with camelCase keys.  During a preview,
values the provider computes (ids, ARNs, names generated at create time) are
*unknown*.  ``pulumi_policy`` wraps properties in a proxy that raises
``UnknownValueError`` when such a value is read, and turns that into a
"can't run policy" advisory.  Rules here read the raw values instead
(:func:`plain`), see unknowns as :data:`UNKNOWN`, and decide from property
dependencies (which resource a property was computed from) rather than guess.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)

try:
    # The memory table and RDS formulas, shared with the program (the pack's __main__.py puts the
    # repository root on sys.path).
    from components import sizing
except ModuleNotFoundError:  # a pack published alone: components/sizing.py copied next to __main__.py
    sizing = importlib.import_module("sizing")

# --- Type tokens (pulumi-aws v6/v7) ------------------------------------------------------------

INSTANCE = "aws:rds/instance:Instance"
CLUSTER = "aws:rds/cluster:Cluster"
PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
PROXY = "aws:rds/proxy:Proxy"
PROXY_TARGET_GROUP = "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup"
PROXY_TARGET = "aws:rds/proxyTarget:ProxyTarget"
PROXY_ENDPOINT = "aws:rds/proxyEndpoint:ProxyEndpoint"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
SECRET = "aws:secretsmanager/secret:Secret"
KMS_KEY = "aws:kms/key:Key"

#: Short, readable names for messages.
_SHORT = {
    INSTANCE: "aws.rds.Instance",
    CLUSTER: "aws.rds.Cluster",
    PARAMETER_GROUP: "aws.rds.ParameterGroup",
    PROXY: "aws.rds.Proxy",
    PROXY_TARGET_GROUP: "aws.rds.ProxyDefaultTargetGroup",
    PROXY_TARGET: "aws.rds.ProxyTarget",
    PROXY_ENDPOINT: "aws.rds.ProxyEndpoint",
    SECURITY_GROUP: "aws.ec2.SecurityGroup",
    SG_INGRESS_RULE: "aws.vpc.SecurityGroupIngressRule",
    SG_RULE: "aws.ec2.SecurityGroupRule",
    METRIC_ALARM: "aws.cloudwatch.MetricAlarm",
    IAM_ROLE: "aws.iam.Role",
    IAM_ROLE_POLICY: "aws.iam.RolePolicy",
    IAM_POLICY: "aws.iam.Policy",
    SECRET: "aws.secretsmanager.Secret",
}

POSTGRES_ENGINES = ("postgres", "aurora-postgresql")


def label(type_: str, name: str) -> str:
    """``aws.rds.Instance "orders-db"``: how messages name a resource."""
    return f'{_SHORT.get(type_, type_)} "{name}"'


# --- Unknown-safe values -------------------------------------------------------------------------


class _Unknown:
    """A value the engine does not know yet (computed by the provider at create time)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Any = _Unknown()

_UNKNOWN_SENTINELS = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


def plain(value: Any) -> Any:
    """Unwrap pulumi_policy's unknown-checking proxies into plain dicts/lists with :data:`UNKNOWN`.

    The proxies expose their wrapped container under the ``"__target"`` key (that is how
    ``pulumi_policy`` itself serializes them); reading it never raises.
    """
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        try:
            target = value["__target"]
        except (KeyError, TypeError):
            target = None
        if isinstance(target, dict):
            return {k: plain(v) for k, v in target.items()}
        return {k: plain(_safe_get(value, k)) for k in value}
    if hasattr(value, "__len__") and hasattr(value, "__getitem__"):
        try:
            target = value["__target"]
        except (KeyError, TypeError, IndexError):
            target = None
        if isinstance(target, list):
            return [plain(v) for v in target]
    return value


def _safe_get(mapping: Mapping[str, Any], key: str) -> Any:
    try:
        return mapping[key]
    except Exception:  # noqa: BLE001 - an unknown value under a foreign proxy
        return UNKNOWN


def as_bool(value: Any) -> bool | None:
    """True/False, or None when unset or unknown."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or is_unknown(value):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_list(value: Any) -> list[Any]:
    """A list property; unset and unknown give an empty list (check :func:`is_unknown` first if it matters)."""
    return list(value) if isinstance(value, list) else []


def is_replica(props: Mapping[str, Any]) -> bool:
    """An ``aws.rds.Instance`` that replicates another: ``replicateSourceDb`` set (known or not)."""
    source = props.get("replicateSourceDb")
    return source is not None and source != ""


def engine_of(props: Mapping[str, Any]) -> str | None:
    engine = props.get("engine")
    return engine.lower() if isinstance(engine, str) else None


def policy_json(value: Any) -> dict[str, Any] | None:
    """An IAM policy document from a property (JSON string or object), None if unknown or malformed."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


# --- Configuration --------------------------------------------------------------------------------


def string_list_schema(key: str, description: str, *, pattern: str | None = None) -> PolicyConfigSchema:
    """A config schema with one optional list of strings (allow-lists and extra names), empty by default."""
    items: dict[str, Any] = {"type": "string", "minLength": 1}
    if pattern is not None:
        items = {"type": "string", "pattern": pattern}
    return PolicyConfigSchema(
        properties={key: {"type": "array", "items": items, "default": [], "description": description}}
    )


def config_value(config: Mapping[str, Any], schema: PolicyConfigSchema | None, key: str) -> Any:
    """The configured value of *key*, else the schema's default."""
    if key in config:
        return config[key]
    if schema is not None and key in schema.properties:
        return schema.properties[key].get("default")
    return None


# --- Stack index -----------------------------------------------------------------------------------


class Res:
    """One resource of the stack.  Properties and property dependencies are converted on first use:
    a stack policy reads the few resource types it judges, not all of a large stack."""

    __slots__ = ("urn", "type", "name", "parent", "_raw_props", "_raw_deps", "_props", "_deps")

    def __init__(self, urn: str, type_: str, name: str, raw_props: Any, raw_deps: Any, parent: str | None = None) -> None:
        self.urn = urn
        self.type = type_
        self.name = name
        self.parent = parent
        self._raw_props = raw_props
        self._raw_deps = raw_deps
        self._props: dict[str, Any] | None = None
        self._deps: dict[str, list[str]] | None = None

    @property
    def props(self) -> dict[str, Any]:
        if self._props is None:
            converted = plain(self._raw_props)
            self._props = converted if isinstance(converted, dict) else {}
        return self._props

    @property
    def prop_deps(self) -> dict[str, list[str]]:
        if self._deps is None:
            raw = self._raw_deps or {}
            self._deps = {k: [d if isinstance(d, str) else d.urn for d in v] for k, v in raw.items()}
        return self._deps

    @property
    def label(self) -> str:
        return label(self.type, self.name)

    def deps(self, prop: str) -> list[str]:
        return self.prop_deps.get(prop, [])


@dataclass
class StackIndex:
    resources: list[Res]
    by_urn: dict[str, Res] = field(default_factory=dict)
    by_type: dict[str, list[Res]] = field(default_factory=dict)

    @classmethod
    def build(cls, args: StackValidationArgs) -> StackIndex:
        resources = []
        for r in args.resources:
            parent = r.parent.urn if r.parent is not None else None
            resources.append(Res(r.urn, r.resource_type, r.name, r.props, r.property_dependencies, parent))
        index = cls(resources)
        for res in resources:
            index.by_urn[res.urn] = res
            index.by_type.setdefault(res.type, []).append(res)
        return index

    def of_type(self, type_: str) -> list[Res]:
        return self.by_type.get(type_, [])

    def referenced(self, res: Res, prop: str, type_: str) -> list[Res]:
        """Resources of *type_* that *res*'s property *prop* was computed from."""
        out = []
        for urn in res.deps(prop):
            dep = self.by_urn.get(urn)
            if dep is not None and dep.type == type_:
                out.append(dep)
        return out

    def _follow(self, res: Res, prop: str, type_: str, depth: int) -> list[Res]:
        """Like :meth:`referenced`, also through intermediates that pass the same property on
        (``db_proxy_name=target_group.db_proxy_name`` depends on the target group, not the proxy)."""
        found = self.referenced(res, prop, type_)
        if found or depth == 0:
            return found
        for urn in res.deps(prop):
            dep = self.by_urn.get(urn)
            if dep is not None and dep.deps(prop):
                found = self._follow(dep, prop, type_, depth - 1)
                if found:
                    return found
        return []

    def resolve(self, res: Res, prop: str, type_: str, value: Any, keys: Iterable[str]) -> Res | None:
        """The resource of *type_* a reference property points to.

        First by property dependency (works with unknown values), then by a known value
        equal to one of *keys* (for example ``identifier`` or ``name``) of a resource of that type.
        """
        refs = self._follow(res, prop, type_, depth=3)
        if refs:
            return refs[0]
        if isinstance(value, str) and value:
            for candidate in self.of_type(type_):
                for key in keys:
                    if candidate.props.get(key) == value:
                        return candidate
        return None


# --- Policy construction -----------------------------------------------------------------------------

#: Plain resource properties, and a policy's config with schema defaults filled in.
Props = dict[str, Any]
Config = Mapping[str, Any]

ResourceCheck = Callable[[str, str, dict[str, Any], Mapping[str, Any], ReportViolation], None]
StackCheck = Callable[[StackIndex, Mapping[str, Any], ReportViolation], None]


def resource_policy(
    name: str,
    description: str,
    types: tuple[str, ...],
    check: ResourceCheck,
    *,
    severity: Severity,
    schema: PolicyConfigSchema | None = None,
    remediation: str | None = None,
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> ResourceValidationPolicy:
    """A resource policy that only looks at *types*; *check* gets ``(type, name, props, config, report)``.

    ``props`` are plain (unknowns as :data:`UNKNOWN`); ``config`` has the schema defaults filled in.
    """

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type not in types:
            return
        config = _with_defaults(args.get_config(), schema)
        check(args.resource_type, args.name, plain(args.props), config, report)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement_level,
        config_schema=schema,
        severity=severity,
        remediation_steps=remediation,
    )


def stack_policy(
    name: str,
    description: str,
    types: tuple[str, ...],
    check: StackCheck,
    *,
    severity: Severity,
    schema: PolicyConfigSchema | None = None,
    remediation: str | None = None,
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> StackValidationPolicy:
    """A stack policy; skipped quickly when the stack has none of *types*."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        if not any(r.resource_type in types for r in args.resources):
            return
        config = _with_defaults(args.get_config(), schema)
        check(StackIndex.build(args), config, report)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement_level,
        config_schema=schema,
        severity=severity,
        remediation_steps=remediation,
    )


def _with_defaults(config: Mapping[str, Any] | None, schema: PolicyConfigSchema | None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if schema is not None:
        for key, spec in schema.properties.items():
            if "default" in spec:
                merged[key] = spec["default"]
    merged.update(dict(config or {}))
    return merged


# --- Cross-resource lookups shared by several rule modules ----------------------------------------


def parameter_group_of(index: StackIndex, instance: Res) -> Res | None:
    """The stack's parameter group an instance uses (None: the RDS default group, or one outside the stack)."""
    return index.resolve(instance, "parameterGroupName", PARAMETER_GROUP, instance.props.get("parameterGroupName"), ("name",))


def parameters_of(group: Res | None) -> dict[str, dict[str, Any]]:
    """Parameter name (lower case) -> ``{"value": ..., "applyMethod": ...}`` of a parameter group."""
    out: dict[str, dict[str, Any]] = {}
    if group is None:
        return out
    for param in as_list(group.props.get("parameters")):
        if isinstance(param, dict) and isinstance(param.get("name"), str):
            out[param["name"].lower()] = param
    return out


@dataclass
class ProxyLink:
    """One ``aws.rds.ProxyTarget``: which proxy it belongs to and which instance or cluster it targets."""

    target: Res
    proxy: Res | None
    instance: Res | None
    cluster: Res | None
    #: True when the target names an instance or cluster that is not (recognisably) in the stack.
    external: bool


def proxy_links(index: StackIndex) -> list[ProxyLink]:
    links = []
    for target in index.of_type(PROXY_TARGET):
        proxy = index.resolve(target, "dbProxyName", PROXY, target.props.get("dbProxyName"), ("name",))
        instance = None
        cluster = None
        inst_ref = target.props.get("dbInstanceIdentifier")
        cluster_ref = target.props.get("dbClusterIdentifier")
        if inst_ref is not None:
            instance = index.resolve(target, "dbInstanceIdentifier", INSTANCE, inst_ref, ("identifier", "id"))
        if cluster_ref is not None:
            cluster = index.resolve(target, "dbClusterIdentifier", CLUSTER, cluster_ref, ("clusterIdentifier", "id"))
        external = (inst_ref is not None and instance is None) or (cluster_ref is not None and cluster is None)
        links.append(ProxyLink(target, proxy, instance, cluster, external))
    return links


def proxy_of(index: StackIndex, res: Res) -> Res | None:
    """The proxy a target group / endpoint / target belongs to (via ``dbProxyName``)."""
    return index.resolve(res, "dbProxyName", PROXY, res.props.get("dbProxyName"), ("name",))
