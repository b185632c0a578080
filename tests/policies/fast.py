"""The fast layer: call one policy's validation directly on resource dicts, in process, no gRPC.

Properties are written as the engine sends them (camelCase keys); an unknown value is written
:data:`UNKNOWN`, the wire sentinel the engine uses during a preview.  The props reach the policy
wrapped in ``pulumi_policy``'s unknown-checking proxy, exactly as the pack's analyzer server
hands them over, and the policy's config is its entry in ``policies/config/<env>.json`` (the
schema defaults are filled in by the policy itself).  Enforcement levels are the engine's
business: these helpers return every violation a policy reports, whatever its level.

The end-to-end layer (``policy_harness.check``) runs whole programs through the real pack.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

CONFIG_DIR = Path(__file__).resolve().parents[2] / "policies" / "config"

#: An unknown value, as the engine sends it during a preview (a computed id, ARN or name).
UNKNOWN = UNKNOWN_STRING_VALUE


@dataclass(frozen=True)
class Finding:
    """One violation a policy reported: its message and the resource it names (None: the stack)."""

    message: str
    urn: str | None


@dataclass
class Resource:
    """One resource of a small stack for :func:`stack_violations`.

    ``deps`` maps a property to the names of the resources its value was computed from (the
    engine's property dependencies), e.g. ``{"dbProxyName": ["proxy"]}``.
    """

    type: str
    name: str
    props: dict[str, Any] = field(default_factory=dict)
    deps: dict[str, list[str]] = field(default_factory=dict)
    parent: str | None = None

    @property
    def urn(self) -> str:
        return urn_of(self.type, self.name)


def urn_of(type_: str, name: str) -> str:
    return f"urn:pulumi:test::fast::{type_}::{name}"


def policy_config(policy: Policy, config: str | Mapping[str, Any] = "prod") -> dict[str, Any]:
    """The settings a policy gets: its entry in ``policies/config/<config>.json``, or *config* itself."""
    if not isinstance(config, str):
        return dict(config)
    entry = json.loads((CONFIG_DIR / f"{config}.json").read_text()).get(policy.name, {})
    if not isinstance(entry, dict):
        return {}  # a bare enforcement level
    return {k: v for k, v in entry.items() if k != "enforcementLevel"}


def _options(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def resource_violations(
    policy: Policy,
    type_: str,
    props: Mapping[str, Any],
    *,
    name: str = "res",
    config: str | Mapping[str, Any] = "prod",
) -> list[Finding]:
    """Run a resource policy on one resource (what the pack does for one ``Analyze`` request)."""
    assert isinstance(policy, ResourceValidationPolicy), f"{policy.name} is not a resource policy"
    findings: list[Finding] = []
    urn = urn_of(type_, name)

    def report(message: str, urn_reported: str | None = None) -> None:
        findings.append(Finding(message, urn_reported or urn))

    args = ResourceValidationArgs(
        type_, unknown_checking_proxy(dict(props)), urn, name, _options(), None, policy_config(policy, config)
    )
    result = policy.validate(args, report)
    assert not inspect.isawaitable(result), "the pack's policies are synchronous"
    return findings


def stack_violations(
    policy: Policy, resources: Sequence[Resource], *, config: str | Mapping[str, Any] = "prod"
) -> list[Finding]:
    """Run a stack policy on a small stack (what the pack does for one ``AnalyzeStack`` request)."""
    assert isinstance(policy, StackValidationPolicy), f"{policy.name} is not a stack policy"
    by_name: dict[str, PolicyResource] = {}
    for r in resources:
        assert r.name not in by_name, f"two resources named {r.name!r}: names identify dependencies here"
        by_name[r.name] = PolicyResource(
            r.type, unknown_checking_proxy(dict(r.props)), r.urn, r.name, _options(), None, None, [], {}
        )
    for r in resources:
        res = by_name[r.name]
        if r.parent is not None:
            res.parent = by_name[r.parent]
            res.opts.parent = res.parent.urn
        for prop, names in r.deps.items():
            missing = [n for n in names if n not in by_name]
            assert not missing, f"{r.name}.{prop} depends on {missing}, which are not in the stack"
            res.property_dependencies[prop] = [by_name[n] for n in names]
            res.dependencies.extend(by_name[n] for n in names if by_name[n] not in res.dependencies)
    findings: list[Finding] = []

    def report(message: str, urn: str | None = None) -> None:
        findings.append(Finding(message, urn or None))

    args = StackValidationArgs(list(by_name.values()), policy_config(policy, config))
    result = policy.validate(args, report)
    assert not inspect.isawaitable(result), "the pack's policies are synchronous"
    return findings


def module_policies(module: ModuleType) -> dict[str, Policy]:
    """Policy name -> policy of every module-level policy constant of a rule module."""
    return {value.name: value for value in vars(module).values() if isinstance(value, Policy)}
