"""The gate's verdict: violations grouped by resource, remediations, timings, text and JSON renderings.

:func:`violations_from` turns an ``AnalyzeResponse`` into :class:`Violation` records; :class:`GateResult`
holds a whole run.  Mandatory (and remediate-level) violations fail the gate, as they fail ``pulumi preview``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime.proto import analyzer_pb2

from gate.pack_info import LEVELS, SEVERITIES, PackInfo
from gate.program import ProgramRun, RegisteredResource


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    severity: str
    urn: str
    resource_type: str
    resource_name: str
    message: str
    description: str

    def as_dict(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "level": self.level,
            "severity": self.severity,
            "urn": self.urn,
            "type": self.resource_type,
            "name": self.resource_name,
            "message": self.message,
            "description": self.description,
        }


@dataclass(frozen=True)
class Remediation:
    """A policy at ``remediate`` level rewrote a resource's inputs before ``Analyze`` (as the engine applies it)."""

    policy: str
    urn: str
    properties: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "urn": self.urn, "properties": self.properties}


@dataclass
class GateResult:
    project: str
    stack: str
    pack: str
    pack_version: str
    resources: int
    violations: list[Violation]
    config: dict[str, dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)
    #: What the gate sent (see :mod:`gate.shapes`) and for which operation ("preview" or "up").
    shape: str = "planned"
    operation: str = "preview"
    #: False when ``up`` skipped AnalyzeStack after a mandatory per-resource violation, as the engine does.
    stack_analyzed: bool = True
    remediations: list[Remediation] = field(default_factory=list)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level in ("mandatory", "remediate")]

    @property
    def advisory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == "advisory"]

    @property
    def passed(self) -> bool:
        return not self.mandatory

    def fired(self, level: str | None = None) -> set[str]:
        """Names of the policies that reported (at *level*, or any)."""
        return {v.policy for v in self.violations if level is None or v.level == level}

    def by_resource(self) -> dict[str, list[Violation]]:
        grouped: dict[str, list[Violation]] = {}
        for v in self.violations:
            grouped.setdefault(v.urn, []).append(v)
        return grouped

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "policyPack": {"name": self.pack, "version": self.pack_version},
            "shape": self.shape,
            "operation": self.operation,
            "resources": self.resources,
            "passed": self.passed,
            "stackAnalyzed": self.stack_analyzed,
            "summary": {"mandatory": len(self.mandatory), "advisory": len(self.advisory)},
            "violations": [v.as_dict() for v in self.violations],
            "remediations": [r.as_dict() for r in self.remediations],
            "byResource": {urn: [v.policy for v in vs] for urn, vs in self.by_resource().items()},
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }

    def render(self) -> str:
        lines = [
            f"Policy pack {self.pack}@{self.pack_version}: {self.resources} resources of {self.project}/{self.stack}"
            f" ({self.operation}, {self.shape} shape)"
        ]
        if not self.violations:
            lines.append("  no policy violations")
        for urn, items in sorted(self.by_resource().items(), key=lambda kv: (kv[0] == "", kv[0])):
            first = items[0]
            head = f"{first.resource_type} {first.resource_name}" if urn else "stack"
            lines.append(f"\n  {head}")
            if urn:
                lines.append(f"    ({urn})")
            for v in sorted(items, key=lambda x: (x.level != "mandatory", x.policy)):
                sev = f", {v.severity}" if v.severity else ""
                lines.append(f"    [{v.level}{sev}] {v.policy}")
                for chunk in _wrap(v.message, 100):
                    lines.append(f"        {chunk}")
        for r in self.remediations:
            lines.append(f"\n  remediated by {r.policy}: {r.urn}")
        if not self.stack_analyzed:
            lines.append("\n  stack policies skipped: `pulumi up` stops before AnalyzeStack after a mandatory violation")
        lines.append("")
        verdict = "FAILED" if self.mandatory else "passed"
        lines.append(
            f"Policy gate {verdict}: {len(self.mandatory)} mandatory, {len(self.advisory)} advisory violation(s)"
            f" in {self.timings.get('total', 0.0):.2f} s"
        )
        return "\n".join(lines)


def _wrap(text: str, width: int) -> Iterable[str]:
    for paragraph in text.splitlines() or [""]:
        yield from textwrap.wrap(paragraph, width) or [""]


def violations_from(
    response: analyzer_pb2.AnalyzeResponse,
    default_urn: str,
    run: ProgramRun,
    info: PackInfo,
    by_urn: Mapping[str, RegisteredResource],
) -> list[Violation]:
    """The diagnostics of one response; *default_urn* for those that name no resource."""
    out = []
    for d in response.diagnostics:
        urn = d.urn or default_urn
        res = by_urn.get(urn)
        message = d.message
        if d.description and message.startswith(d.description):
            message = message[len(d.description) :].lstrip("\n") or d.description
        meta = info.policies.get(d.policyName)
        out.append(
            Violation(
                policy=d.policyName,
                level=LEVELS.get(d.enforcementLevel, "advisory"),
                severity=SEVERITIES.get(d.severity, "") or (meta.severity if meta is not None else ""),
                urn=urn,
                resource_type=res.type if res is not None else ("pulumi:pulumi:Stack" if not urn else urn.split("::")[-2]),
                resource_name=res.name if res is not None else (f"{run.project}-{run.stack}" if not urn else urn.split("::")[-1]),
                message=message,
                description=d.description,
            )
        )
    return out
