"""What a policy pack says about itself (``GetAnalyzerInfo``): policies, levels, severities, config schemas.

Also the mapping between the protocol's enforcement-level and severity enums and the names the
policy config files and reports use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2

LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
#: Level name -> protocol value (the inverse of :data:`LEVELS`).
LEVEL_VALUES = {name: value for value, name in LEVELS.items()}
SEVERITIES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}


@dataclass(frozen=True)
class PolicyMeta:
    name: str
    description: str
    enforcement_level: str
    severity: str
    kind: str  # "resource" or "stack"
    schema: dict[str, Any]
    required: list[str]


@dataclass(frozen=True)
class PackInfo:
    name: str
    version: str
    policies: dict[str, PolicyMeta]
    initial_config: dict[str, dict[str, Any]]


def _struct_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


def pack_info(response: analyzer_pb2.AnalyzerInfo) -> PackInfo:
    """Turn a ``GetAnalyzerInfo`` response into :class:`PackInfo`."""
    policies = {}
    for p in response.policies:
        kind = {analyzer_pb2.POLICY_TYPE_RESOURCE: "resource", analyzer_pb2.POLICY_TYPE_STACK: "stack"}.get(p.policy_type, "")
        policies[p.name] = PolicyMeta(
            name=p.name,
            description=p.description,
            enforcement_level=LEVELS.get(p.enforcementLevel, "advisory"),
            severity=SEVERITIES.get(p.severity, ""),
            kind=kind,
            schema=_struct_dict(p.configSchema.properties) if p.HasField("configSchema") else {},
            required=list(p.configSchema.required) if p.HasField("configSchema") else [],
        )
    initial: dict[str, dict[str, Any]] = {}
    for name, cfg in response.initialConfig.items():
        entry: dict[str, Any] = dict(_struct_dict(cfg.properties))
        if cfg.enforcementLevel:
            entry["enforcementLevel"] = LEVELS[cfg.enforcementLevel]
        initial[name] = entry
    return PackInfo(response.name, response.version, policies, initial)
