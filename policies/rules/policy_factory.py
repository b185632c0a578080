"""Policy construction: a rule's check function becomes a ``pulumi_policy`` resource or stack policy.

A check never sees ``pulumi_policy``'s unknown-raising proxies: it gets plain properties
(unknowns as ``UNKNOWN``) and its config with the schema defaults filled in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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

from .config_schemas import with_defaults
from .property_values import plain
from .stack_index import StackIndex

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

    ``props`` are plain (unknowns as ``UNKNOWN``); ``config`` has the schema defaults filled in.
    """

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type not in types:
            return
        config = with_defaults(args.get_config(), schema)
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
        config = with_defaults(args.get_config(), schema)
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
